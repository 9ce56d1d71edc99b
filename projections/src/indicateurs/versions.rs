//! The dossiers as known at any log position (migration `…18_dossiers_versions`), for the questions
//! "as known at" that the département cube's history cannot answer (organisme, formation and niveau
//! groupings, age band and année de formation filters).
//!
//! Each dossier keeps its successive counts (`rm_dossiers_versions`: from the event that gave them to
//! the one that changed them), without its territory: that is where its organisme formateur was at the
//! position asked for (`rm_organismes_versions`), as a replay up to that position would place it.
//! Both are written from the events' own positions, by the live batches and the one-pass build alike.
//!
//! A question at position P is answered from the live read model, corrected by the dossiers counted
//! otherwise since P (those with a version started after P, and those of organismes placed elsewhere
//! since): their counts now are taken back and their counts at P added. When many dossiers changed
//! since P (`chemin`), the versions valid at P are counted instead. Either way, the answer is the same.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use sqlx::PgConnection;

use super::cubes::Comptage;
use super::query::{self, Dimension, Filtre, Groupe};
use crate::copy::CopyRows;
use crate::status::Statut;

/// Whether two counts are the same version: the same but for the territory, which is the organisme's.
fn meme_version(a: &Comptage, b: &Comptage) -> bool {
    let (x, y) = (&a.dims, &b.dims);
    a.annee_scolaire == b.annee_scolaire
        && a.naissance == b.naissance
        && a.parcours == b.parcours
        && (&x.uai, &x.siret, &x.formation, x.niveau, x.annee_formation, &x.source)
            == (&y.uai, &y.siret, &y.formation, y.niveau, y.annee_formation, &y.source)
}

/// The versions a batch (or a build) adds, and the current versions it ends.
#[derive(Default)]
pub struct Versions {
    /// Current versions ended, by dossier, at a position.
    closes: Vec<(Arc<str>, i64)>,
    /// The new versions, encoded for COPY.
    rows: CopyRows,
    /// Erased persons' dossiers: every version's birth date becomes what the dossier reads now.
    scrubs: Vec<Arc<str>>,
}

impl Versions {
    /// A dossier's counts after each of its events (`(position, counts)` in position order, `None`
    /// while it counts for nothing), from `before` (its current version, if any). An erased person's
    /// dossier (`efface`) reads each birth date it was ever sent as the first day of its month: its
    /// earlier versions take theirs, as a rebuild would fold them (each identity correction kept its
    /// own month).
    pub fn add_steps<'c>(
        &mut self,
        dossier_id: &str,
        before: Option<&'c Comptage>,
        steps: impl IntoIterator<Item = (i64, Option<&'c Comptage>)>,
        efface: bool,
    ) {
        let dossier_id: Arc<str> = dossier_id.into();
        let scrubbed;
        let mut previous = before;
        if efface {
            self.scrubs.push(dossier_id.clone());
            if let Some(before) = before {
                let naissance = chrono::Datelike::with_day(&before.naissance, 1).unwrap_or(before.naissance);
                scrubbed = Comptage { naissance, ..before.clone() };
                previous = Some(&scrubbed);
            }
        }
        let mut open = previous.is_some();
        // The version started in these steps and not ended yet: its start and counts.
        let mut pending: Option<(i64, &Comptage)> = None;
        for (position, now) in steps {
            let same = match (previous, now) {
                (Some(a), Some(b)) => meme_version(a, b),
                (None, None) => true,
                _ => false,
            };
            if same {
                continue;
            }
            match pending.take() {
                Some((depuis, counts)) => self.encode(&dossier_id, depuis, Some(position), counts),
                None if open => self.closes.push((dossier_id.clone(), position)),
                None => {}
            }
            open = false;
            pending = now.map(|now| (position, now));
            previous = now;
        }
        if let Some((depuis, counts)) = pending {
            self.encode(&dossier_id, depuis, None, counts);
        }
    }

    fn encode(&mut self, dossier_id: &str, depuis: i64, jusqua: Option<i64>, c: &Comptage) {
        let parcours = serde_json::to_string(&c.parcours).expect("change points serialise");
        self.rows
            .text(dossier_id)
            .plain(depuis)
            .optional(jusqua)
            .text(c.annee_scolaire.as_str())
            .plain(c.naissance)
            .text(&parcours)
            .text(&c.dims.uai)
            .text(&c.dims.siret)
            .text(&c.dims.formation)
            .optional(c.dims.niveau_connu())
            .optional(c.dims.annee_formation_connue())
            .text(&c.dims.source)
            .end_row();
    }

    /// Write them (unqualified tables: the live ones, or those first on the search path), and start
    /// afresh.
    pub async fn write(&mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if !self.scrubs.is_empty() {
            let ids: Vec<String> = self.scrubs.drain(..).map(|id| id.to_string()).collect();
            sqlx::query(
                "UPDATE rm_dossiers_versions SET date_de_naissance = date_trunc('month', date_de_naissance)::date
                 WHERE dossier_id = ANY($1) AND extract(day FROM date_de_naissance) <> 1",
            )
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        }
        if !self.closes.is_empty() {
            // `= ANY($1)` too: the planner then reads the versions by their index, whatever it
            // estimates of the array (a join alone may scan them all after a large import).
            let (ids, positions): (Vec<String>, Vec<i64>) =
                self.closes.drain(..).map(|(id, p)| (id.to_string(), p)).unzip();
            sqlx::query!(
                "UPDATE rm_dossiers_versions v SET jusqua = c.position
                 FROM unnest($1::text[], $2::bigint[]) AS c(dossier_id, position)
                 WHERE v.dossier_id = ANY($1) AND v.dossier_id = c.dossier_id AND v.jusqua IS NULL",
                &ids,
                &positions
            )
            .execute(&mut *tx)
            .await?;
        }
        self.rows
            .send(
                tx,
                "rm_dossiers_versions",
                &[
                    "dossier_id",
                    "depuis",
                    "jusqua",
                    "annee_scolaire",
                    "date_de_naissance",
                    "parcours",
                    "uai_formateur",
                    "siret_formateur",
                    "formation",
                    "niveau",
                    "annee_formation",
                    "source",
                ],
            )
            .await
    }
}

/// A territory: département, région, académie.
pub type Territoire = (Arc<str>, Arc<str>, Arc<str>);

/// An organisme's territory from an event on.
pub struct Placement {
    pub uai: String,
    pub siret: String,
    pub position: i64,
    pub territoire: Territoire,
}

/// Record where organismes are from their events on (in position order): only the events that place
/// an organisme elsewhere than it was.
pub async fn placer(tx: &mut PgConnection, placements: &[Placement]) -> Result<(), sqlx::Error> {
    if placements.is_empty() {
        return Ok(());
    }
    let keys: HashSet<(&str, &str)> = placements.iter().map(|p| (p.uai.as_str(), p.siret.as_str())).collect();
    let (uais, sirets): (Vec<&str>, Vec<&str>) = keys.into_iter().unzip();
    let latest: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT DISTINCT ON (v.uai, v.siret) v.uai, v.siret, v.departement, v.region, v.academie
         FROM rm_organismes_versions v JOIN unnest($1::text[], $2::text[]) AS k(uai, siret) USING (uai, siret)
         ORDER BY v.uai, v.siret, v.depuis DESC",
    )
    .bind(&uais)
    .bind(&sirets)
    .fetch_all(&mut *tx)
    .await?;
    let mut placed: HashMap<(String, String), Territoire> =
        latest.into_iter().map(|(u, s, d, r, a)| ((u, s), (d.into(), r.into(), a.into()))).collect();
    let mut copy = CopyRows::default();
    for p in placements {
        let key = (p.uai.clone(), p.siret.clone());
        if placed.get(&key) == Some(&p.territoire) {
            continue;
        }
        let (departement, region, academie) = &p.territoire;
        copy.text(&p.uai).text(&p.siret).plain(p.position).text(departement).text(region).text(academie);
        copy.end_row();
        placed.insert(key, p.territoire.clone());
    }
    copy.send(tx, "rm_organismes_versions", &["uai", "siret", "depuis", "departement", "region", "academie"])
        .await
}

/// Which dossiers' versions valid at a position to read.
#[derive(Clone, Copy)]
enum Quels {
    /// Every dossier's.
    Tous,
    /// Those of the dossiers counted otherwise since: replaced since, or of an organisme placed
    /// elsewhere since.
    Changes,
}

/// The organismes placed elsewhere after `position`, as SQL.
fn places_depuis(position: i64) -> String {
    format!("SELECT uai, siret FROM rm_organismes_versions WHERE depuis > {position}")
}

/// The dossiers as known at `position`, in `rm_dossiers`' shape (the columns the indicators read).
fn connus_a(position: i64, quels: Quels) -> String {
    let columns = "v.annee_scolaire, v.date_de_naissance, v.parcours, v.uai_formateur, v.siret_formateur,
                   v.formation, v.niveau, v.annee_formation, v.source";
    let versions = match quels {
        Quels::Tous => format!(
            "SELECT {columns} FROM rm_dossiers_versions v
             WHERE v.depuis <= {position} AND (v.jusqua IS NULL OR v.jusqua > {position})"
        ),
        // Disjoint: a version replaced since is not current.
        Quels::Changes => format!(
            "SELECT {columns} FROM rm_dossiers_versions v WHERE v.jusqua > {position} AND v.depuis <= {position}
             UNION ALL
             SELECT {columns} FROM rm_dossiers_versions v
             WHERE v.jusqua IS NULL AND v.depuis <= {position}
               AND (v.uai_formateur, v.siret_formateur) IN ({moved})",
            moved = places_depuis(position)
        ),
    };
    format!(
        "(SELECT v.*, coalesce(o.departement, '') AS departement, coalesce(o.region, '') AS region,
                 coalesce(o.academie, '') AS academie
          FROM ({versions}) v
          LEFT JOIN (SELECT DISTINCT ON (uai, siret) uai, siret, departement, region, academie
                     FROM rm_organismes_versions WHERE depuis <= {position}
                     ORDER BY uai, siret, depuis DESC) o
                 ON (o.uai, o.siret) = (v.uai_formateur, v.siret_formateur)) AS d"
    )
}

/// How a question "as known at" is answered from the versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chemin {
    /// The live read model, corrected by the dossiers counted otherwise since the position.
    Correction,
    /// The versions valid at the position, counted one by one.
    Versions,
}

/// The cheaper way to answer at `position`: the correction costs a few index probes per version
/// started since, the versions alone a scan of them all, about 40 times cheaper per version (see
/// BENCHMARKS.md).
pub async fn chemin(tx: &mut PgConnection, position: i64) -> Result<Chemin, sqlx::Error> {
    let versions: f32 = sqlx::query_scalar!(
        r#"SELECT reltuples AS "n!" FROM pg_class WHERE oid = 'rm_dossiers_versions'::regclass"#
    )
    .fetch_one(&mut *tx)
    .await?;
    let limit = (f64::from(versions.max(0.0)) / 40.0) as i64 + 1000;
    let since: i64 = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (SELECT 1 FROM rm_dossiers_versions WHERE depuis > $1 LIMIT $2) s"#,
        position,
        limit
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(if since < limit { Chemin::Correction } else { Chemin::Versions })
}

/// The indicators at `date` as known at `position` (at most the projected position), for any grouping
/// and filter, in the caller's transaction: it must see one snapshot of the database (REPEATABLE READ),
/// so that the live read model and the versions agree.
pub async fn indicateurs(
    tx: &mut PgConnection,
    position: i64,
    date: NaiveDate,
    dimension: Dimension,
    filtre: &Filtre,
) -> Result<Vec<Groupe>, sqlx::Error> {
    let chemin = chemin(tx, position).await?;
    par(tx, chemin, position, date, dimension, filtre).await
}

/// The same answer, the way `chemin` says.
pub async fn par(
    tx: &mut PgConnection,
    chemin: Chemin,
    position: i64,
    date: NaiveDate,
    dimension: Dimension,
    filtre: &Filtre,
) -> Result<Vec<Groupe>, sqlx::Error> {
    // Compiling these queries (JIT, for their large estimated cost) takes longer than running them.
    sqlx::raw_sql("SET LOCAL jit = off").execute(&mut *tx).await?;
    let counts = match chemin {
        Chemin::Versions => {
            query::from_dossiers(tx, &connus_a(position, Quels::Tous), date, dimension, filtre).await?
        }
        Chemin::Correction => corriges(tx, position, date, dimension, filtre).await?,
    };
    query::groupes(tx, dimension, counts).await
}

/// The live counts, less those now of the dossiers counted otherwise since `position`, plus theirs then.
async fn corriges(
    tx: &mut PgConnection,
    position: i64,
    date: NaiveDate,
    dimension: Dimension,
    filtre: &Filtre,
) -> Result<Vec<(String, Statut, i64)>, sqlx::Error> {
    let mut counts: HashMap<(String, Statut), i64> = HashMap::new();
    for (cle, statut, n) in query::counts(tx, date, dimension, filtre).await? {
        *counts.entry((cle, statut)).or_default() += n;
    }
    // The dossiers counted otherwise since, looked up one by one on the primary key (an array, so
    // that the planner does not scan every dossier to join them).
    let now = format!(
        "(SELECT * FROM rm_dossiers WHERE dossier_id = ANY(ARRAY(
             SELECT dossier_id FROM rm_dossiers_versions WHERE depuis > {position}
             UNION
             SELECT dossier_id FROM rm_dossiers WHERE (uai_formateur, siret_formateur) IN ({moved})))) AS d",
        moved = places_depuis(position)
    );
    for (cle, statut, n) in query::from_dossiers(tx, &now, date, dimension, filtre).await? {
        *counts.entry((cle, statut)).or_default() -= n;
    }
    let then = connus_a(position, Quels::Changes);
    for (cle, statut, n) in query::from_dossiers(tx, &then, date, dimension, filtre).await? {
        *counts.entry((cle, statut)).or_default() += n;
    }
    Ok(counts.into_iter().filter(|(_, n)| *n != 0).map(|((cle, statut), n)| (cle, statut, n)).collect())
}
