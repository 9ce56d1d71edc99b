//! Reading France Travail's queue on a day (domain.md §12): the persons 18 or older enrolled without a
//! contract that day, by région of residence and sector, the oldest enrolments first (flagged from 90
//! days on); per sector, the advisors' latest situation recorded by the end of the day ("à traiter":
//! none yet).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};

/// From this many days since enrolment an entry is flagged.
pub const JOURS_ALERTE: i32 = 90;

/// Whose entries: a région's (its advisors), or every région.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Perimetre {
    Region(String),
    Tout,
}

/// A list of a sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListeFt {
    /// No situation for the sector yet.
    ATraiter,
    /// A situation for the sector.
    Traites,
}

/// Where a page starts: after this entry of the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Curseur {
    pub debut: NaiveDate,
    pub entree: String,
}

impl Curseur {
    pub fn encode(&self) -> String {
        format!("{}|{}", self.debut, self.entree)
    }

    pub fn decode(text: &str) -> Option<Curseur> {
        let (debut, entree) = text.split_once('|')?;
        Some(Curseur { debut: debut.parse().ok()?, entree: entree.to_owned() })
    }
}

/// A page of the queue.
#[derive(Debug, Clone)]
pub struct Demande {
    pub perimetre: Perimetre,
    pub jour: NaiveDate,
    /// A sector (A–N): its entries only; `liste` then narrows to those with or without its situation.
    pub secteur: Option<String>,
    pub liste: Option<ListeFt>,
    pub departement: Option<String>,
    pub apres: Option<Curseur>,
    pub premiers: i64,
}

/// A sector's latest situation by the end of the day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct SituationLue {
    pub secteur: String,
    pub situation: String,
    pub commentaire: Option<String>,
    pub organisation: String,
    pub principal: String,
    pub recorded_at: DateTime<Utc>,
}

/// An entry as seen on a day.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Ligne {
    pub entree: String,
    pub active: bool,
    pub dossier_id: String,
    /// The first INSCRIT day.
    pub debut: NaiveDate,
    pub fin: Option<NaiveDate>,
    pub fin_motif: Option<String>,
    pub date_de_naissance: NaiveDate,
    pub region: Option<String>,
    pub departement: Option<String>,
    pub code_postal: Option<String>,
    pub cfd: Option<String>,
    pub rncp: Option<String>,
    pub secteurs: Vec<String>,
    pub uai_formateur: String,
    pub siret_formateur: String,
    pub position: i64,
    /// In the queue that day: 18 or older, enrolled, not yet under contract nor gone.
    pub visible: bool,
    pub jours: i32,
    pub situations: Json<Vec<SituationLue>>,
}

impl Ligne {
    pub fn curseur(&self) -> Curseur {
        Curseur { debut: self.debut, entree: self.entree.clone() }
    }

    pub fn alerte(&self) -> bool {
        self.jours >= JOURS_ALERTE
    }
}

/// The condition on an action `a` of being about the enrolment `r` and recorded by the end of the day
/// `p.d` (a literal, for `concat!`).
macro_rules! action_du_jour {
    () => {
        "a.entree = ANY(r.entree || r.anciennes) AND a.date_inscription >= r.debut
          AND a.recorded_at < ((p.d + 1)::timestamp AT TIME ZONE 'UTC')"
    };
}

const COLONNES: &str = concat!(
    "SELECT r.entree, r.active, r.dossier_id, r.debut, r.fin, r.fin_motif, r.date_de_naissance, r.region,
            r.departement, r.code_postal, r.cfd, r.rncp, r.secteurs, r.uai_formateur, r.siret_formateur, r.position,
            (r.active AND r.debut <= p.d AND (r.fin IS NULL OR r.fin > p.d)
             AND r.date_de_naissance <= (p.d - interval '18 years')::date) AS visible,
            p.d - r.debut AS jours,
            (SELECT coalesce(json_agg(json_build_object('secteur', x.secteur, 'situation', x.situation,
                        'commentaire', x.commentaire, 'organisation', x.organisation, 'principal', x.principal,
                        'recorded_at', x.recorded_at) ORDER BY x.secteur), '[]'::json)
             FROM (SELECT DISTINCT ON (a.secteur) a.* FROM rm_ft_actions a WHERE ",
    action_du_jour!(),
    " ORDER BY a.secteur, a.position DESC) x) AS situations"
);

/// `WITH p AS (the day) SELECT e.* FROM (<COLONNES> FROM p, (the person's enrolment of the day) r) e`:
/// the caller adds conditions on the enrolments `r` between `open` and `close`.
fn open(q: &mut QueryBuilder<Postgres>, jour: NaiveDate, du_jour: bool) {
    q.push("WITH p AS (SELECT ").push_bind(jour).push("::date AS d) SELECT e.* FROM (");
    q.push(COLONNES)
        .push(" FROM p CROSS JOIN (SELECT DISTINCT ON (r.entree) r.* FROM rm_ft_entrees r, p WHERE ");
    if du_jour {
        q.push("r.active AND r.debut <= p.d AND ");
    }
}

fn close(q: &mut QueryBuilder<Postgres>) {
    q.push(" ORDER BY r.entree, (r.active AND r.debut <= p.d) DESC, r.debut DESC) r) e");
}

fn push_perimetre(q: &mut QueryBuilder<Postgres>, perimetre: &Perimetre, t: &str) {
    match perimetre {
        Perimetre::Region(region) => {
            q.push(format!("{t}.region = ")).push_bind(region.clone());
        }
        Perimetre::Tout => {
            q.push("true");
        }
    }
}

/// A page of the queue, the oldest enrolments first.
pub async fn liste(conn: &mut PgConnection, demande: &Demande) -> Result<Vec<Ligne>, sqlx::Error> {
    let mut q = QueryBuilder::new("");
    open(&mut q, demande.jour, true);
    push_perimetre(&mut q, &demande.perimetre, "r");
    if let Some(departement) = &demande.departement {
        q.push(" AND r.departement = ").push_bind(departement.clone());
    }
    close(&mut q);
    q.push(" WHERE e.visible");
    if let Some(secteur) = &demande.secteur {
        q.push(" AND ").push_bind(secteur.clone()).push(" = ANY(e.secteurs)");
        let sans = "NOT EXISTS (SELECT 1 FROM json_array_elements(e.situations) s WHERE s->>'secteur' = ";
        match demande.liste {
            Some(ListeFt::ATraiter) => {
                q.push(format!(" AND {sans}")).push_bind(secteur.clone()).push(")");
            }
            Some(ListeFt::Traites) => {
                q.push(format!(" AND NOT {sans}")).push_bind(secteur.clone()).push(")");
            }
            None => {}
        }
    }
    if let Some(c) = &demande.apres {
        q.push(" AND (e.debut > ").push_bind(c.debut);
        q.push(" OR (e.debut = ")
            .push_bind(c.debut)
            .push(" AND e.entree > ")
            .push_bind(c.entree.clone())
            .push("))");
    }
    q.push(" ORDER BY e.debut, e.entree LIMIT ").push_bind(demande.premiers);
    q.build_query_as().fetch_all(conn).await
}

/// A person's entry as seen on `jour` (visible or not: the caller decides who may see it).
pub async fn une(
    conn: &mut PgConnection,
    entree: &str,
    jour: NaiveDate,
) -> Result<Option<Ligne>, sqlx::Error> {
    let mut q = QueryBuilder::new("");
    open(&mut q, jour, false);
    q.push("r.entree = ").push_bind(entree.to_owned());
    close(&mut q);
    q.build_query_as().fetch_optional(conn).await
}

/// The entries of `perimetre` changed after log position `apres`, oldest change first (those that left
/// included, `visible` false).
pub async fn changees(
    conn: &mut PgConnection,
    perimetre: &Perimetre,
    apres: i64,
    jour: NaiveDate,
) -> Result<Vec<Ligne>, sqlx::Error> {
    let mut q = QueryBuilder::new("");
    open(&mut q, jour, false);
    q.push("r.entree IN (SELECT c.entree FROM rm_ft_entrees c WHERE c.position > ")
        .push_bind(apres)
        .push(")");
    close(&mut q);
    q.push(" WHERE ");
    push_perimetre(&mut q, perimetre, "e");
    q.push(" ORDER BY e.position, e.entree");
    q.build_query_as().fetch_all(conn).await
}

/// The figures of one région and sector on a day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Stats {
    pub region: Option<String>,
    /// None: entries whose formation has no known sector.
    pub secteur: Option<String>,
    pub total: i64,
    pub a_traiter: i64,
    pub traites: i64,
    pub alertes: i64,
    /// `[[situation, count], …]`.
    pub par_situation: Json<Vec<(String, i64)>>,
}

/// The figures per région and sector of the queue on `jour` (an entry counts in each of its sectors).
pub async fn stats(
    conn: &mut PgConnection,
    perimetre: &Perimetre,
    jour: NaiveDate,
) -> Result<Vec<Stats>, sqlx::Error> {
    let mut q = QueryBuilder::new("WITH l AS (");
    open(&mut q, jour, true);
    push_perimetre(&mut q, perimetre, "r");
    close(&mut q);
    q.push(
        " WHERE e.visible),
         s AS (SELECT l.region, x.secteur, l.jours,
                      (SELECT st->>'situation' FROM json_array_elements(l.situations) st
                       WHERE st->>'secteur' = x.secteur) AS situation
               FROM l CROSS JOIN LATERAL unnest(CASE WHEN l.secteurs = '{}' THEN ARRAY[NULL::text]
                                                      ELSE l.secteurs END) AS x(secteur))
         SELECT s.region, s.secteur, count(*) AS total, count(*) FILTER (WHERE s.situation IS NULL) AS a_traiter,
                count(*) FILTER (WHERE s.situation IS NOT NULL) AS traites,
                count(*) FILTER (WHERE s.jours >= ",
    );
    q.push_bind(JOURS_ALERTE).push(
        ") AS alertes,
                coalesce((SELECT json_agg(json_build_array(y.situation, y.n) ORDER BY y.situation)
                          FROM (SELECT s2.situation, count(*) AS n FROM s s2
                                WHERE s2.region IS NOT DISTINCT FROM s.region
                                  AND s2.secteur IS NOT DISTINCT FROM s.secteur AND s2.situation IS NOT NULL
                                GROUP BY s2.situation) y), '[]'::json) AS par_situation
         FROM s GROUP BY s.region, s.secteur ORDER BY s.region, s.secteur NULLS LAST",
    );
    q.build_query_as().fetch_all(conn).await
}

/// The history of the situations of these persons, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Action {
    pub entree: String,
    pub position: i64,
    pub secteur: String,
    pub situation: String,
    pub commentaire: Option<String>,
    pub date_inscription: NaiveDate,
    pub organisation: String,
    pub principal: String,
    pub recorded_at: DateTime<Utc>,
}

/// Each person's actions are those recorded under their key and under the keys their dossiers had
/// before an identity correction.
pub async fn historiques(conn: &mut PgConnection, entrees: &[String]) -> Result<Vec<Action>, sqlx::Error> {
    sqlx::query_as(
        "WITH cles(entree, cle) AS (
             SELECT e, e FROM unnest($1::text[]) AS e
             UNION SELECT r.entree, unnest(r.anciennes) FROM rm_ft_entrees r WHERE r.entree = ANY($1) AND r.active)
         SELECT k.entree, a.position, a.secteur, a.situation, a.commentaire, a.date_inscription, a.organisation,
                a.principal, a.recorded_at
         FROM cles k JOIN rm_ft_actions a ON a.entree = k.cle
         ORDER BY 1, 2",
    )
    .bind(entrees)
    .fetch_all(conn)
    .await
}
