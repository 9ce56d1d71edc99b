//! The `voeux` projection: every Affelnet / Parcoursup vœu, matched live to the dossiers of the same
//! person (domain.md §8), so that the conversion funnels and the lists of "non concrétisés" are read
//! from one table (`query`).
//!
//! A batch (1) records the vœux its `VoeuFormule` / `VoeuRetire` events leave, (2) refolds the dossiers
//! it touches into what matching needs of them (`rm_voeu_dossiers`), then (3) matches again every vœu
//! those may concern: the batch's vœux, the vœux of the same INE or person key as a touched dossier,
//! and those matched to a touched dossier (its identity may have been corrected). Matching reads only
//! the tables' final state, so the read model is the same whatever the batches. Last, the candidates of
//! those vœux are counted again per campaign and group of each level (`rm_voeux_candidats`: académie,
//! région, national, each from the group's own vœux), and the sums per group (`rm_voeux_academies`) and
//! per first day and length of contract (`rm_voeux_contrats`) are moved by the difference, so that a
//! funnel by académie reads a few thousand rows whatever the campaign's size.
//!
//! A vœu matches a dossier that is not withdrawn, of the rentrée's school year, whose organisme
//! formateur or responsable is the one the vœu targets, and of the same person: the same INE when both
//! carry one, else the same person key (normalised NOM, first prénom, birth date). Among several, the
//! one that went under contract first.

pub mod query;

use std::collections::{BTreeMap, BTreeSet};

use events::RecordedEvent;
use events::domain::territoire;
use events::dossier::Dossier;
use events::envelope::category_of;
use events::personal::Vault;
use events::personne::PersonneEffacee;
use events::voeu::{VoeuEvent, VoeuFormule};
use sqlx::PgConnection;

use crate::fold::Touched;
use crate::runtime::{ProjectionError, Projector};
use crate::status::{ChangePoint, Faits, RuleSet, Statut};

pub struct VoeuxProjection {
    pub rules: RuleSet,
    /// Opens the personal data of the events it reads from the log itself.
    pub vault: Option<Vault>,
}

impl Default for VoeuxProjection {
    fn default() -> Self {
        VoeuxProjection { rules: RuleSet::CURRENT, vault: None }
    }
}

impl VoeuxProjection {
    pub fn with_vault(mut self, vault: Option<Vault>) -> Self {
        self.vault = vault;
        self
    }
}

impl Projector for VoeuxProjection {
    fn name(&self) -> &'static str {
        "voeux"
    }

    fn version(&self) -> i32 {
        2
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "rm_voeux",
            "rm_voeu_dossiers",
            "rm_voeux_candidats",
            "rm_voeux_academies",
            "rm_voeux_contrats",
            "rm_voeux_effaces",
            "rm_voeux_quarantaine",
        ]
    }

    fn reads(&self, category: &str) -> bool {
        matches!(category, "dossier" | "candidat" | "personne")
    }

    fn quarantaine(&self) -> &'static str {
        "rm_voeux_quarantaine"
    }

    async fn apply(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut concerned: BTreeSet<String> = write_voeux(tx, events).await?;
        let (erased, also) = erase(tx, events).await?;
        concerned.extend(erased);
        let touched = Touched::of(tx, self.vault.as_ref(), events, "dossier", &also).await?;
        if !touched.is_empty() {
            let mut rows = Vec::new();
            for (stream, events) in touched.streams() {
                let last = events.last().map_or(0, |e| e.position);
                let dossier = Dossier::from_recorded(events.iter().copied())
                    .map_err(|e| ProjectionError::Event { position: last, message: e.to_string() })?;
                if let Some(row) = self.faits(stream, &dossier, last) {
                    rows.push(row);
                }
            }
            write_dossiers(tx, &rows).await?;
            let ids: Vec<String> = rows.iter().map(|r| r.dossier_id.clone()).collect();
            let ines: Vec<String> = rows.iter().filter_map(|r| r.ine.clone()).collect();
            let personnes: Vec<String> = rows.iter().map(|r| r.personne.clone()).collect();
            concerned.extend(
                sqlx::query_scalar!(
                    "SELECT voeu FROM rm_voeux
                     WHERE ine = ANY($1) OR personne = ANY($2) OR dossier_id = ANY($3)",
                    &ines,
                    &personnes,
                    &ids,
                )
                .fetch_all(&mut *tx)
                .await?,
            );
        }
        if !concerned.is_empty() {
            let voeux: Vec<String> = concerned.into_iter().collect();
            rematch(tx, &voeux).await?;
            write_candidats(tx, &voeux).await?;
        }
        Ok(())
    }
}

/// What matching needs of a dossier.
#[derive(Debug, Clone, PartialEq)]
pub struct DossierFaits {
    pub dossier_id: String,
    pub annee_scolaire: String,
    pub uai_formateur: String,
    pub uai_responsable: String,
    pub ine: Option<String>,
    pub personne: String,
    pub retire: bool,
    pub debut: Option<chrono::NaiveDate>,
    /// The first day after `debut` no longer under contract (none while it lasts).
    pub fin: Option<chrono::NaiveDate>,
    pub position: i64,
}

impl VoeuxProjection {
    /// What matching needs of a dossier (none before its inscription is known).
    fn faits(&self, stream: &str, dossier: &Dossier, position: i64) -> Option<DossierFaits> {
        let i = dossier.inscription.as_ref()?;
        let parcours = Faits::of(dossier).map(|faits| self.rules.parcours(&faits)).unwrap_or_default();
        let (debut, fin) = sous_contrat(&parcours);
        Some(DossierFaits {
            dossier_id: stream.to_owned(),
            annee_scolaire: i.annee_scolaire.to_string(),
            uai_formateur: i.formateur.uai.to_string(),
            uai_responsable: i.responsable.uai.to_string(),
            ine: i.personnel.ine.as_ref().map(ToString::to_string),
            personne: i.personne.identite.clone(),
            retire: dossier.retrait.is_some(),
            debut,
            fin,
            position,
        })
    }
}

/// The first day under contract of a parcours (APPRENTI), and the first day after it no longer under
/// contract (none while it lasts; FIN_DE_FORMATION continues it).
pub fn sous_contrat(parcours: &[ChangePoint]) -> (Option<chrono::NaiveDate>, Option<chrono::NaiveDate>) {
    let Some(start) = parcours.iter().position(|p| p.statut == Statut::Apprenti) else {
        return (None, None);
    };
    let fin = parcours[start..]
        .iter()
        .find(|p| !matches!(p.statut, Statut::Apprenti | Statut::FinDeFormation))
        .map(|p| p.date);
    (Some(parcours[start].date), fin)
}

/// Record the vœux the batch's events leave (the last event of each vœu wins); the vœux concerned.
async fn write_voeux(
    tx: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<BTreeSet<String>, ProjectionError> {
    let mut last: BTreeMap<String, (VoeuEvent, i64, String)> = BTreeMap::new();
    for e in events.iter().filter(|e| category_of(&e.stream_id) == "candidat") {
        let invalid = |message: String| ProjectionError::Event { position: e.position, message };
        let candidat = events::voeu::candidat_of(&e.stream_id)
            .ok_or_else(|| invalid("not a candidate stream".into()))?;
        let Some(event) =
            VoeuEvent::decode(&e.event_type, &e.data).map_err(|err| invalid(err.to_string()))?
        else {
            continue;
        };
        last.insert(event.voeu().to_owned(), (event, e.position, candidat.to_owned()));
    }
    let concerned: BTreeSet<String> = last.keys().cloned().collect();
    let mut formules: Vec<(&VoeuFormule, i64, &str)> = Vec::new();
    let (mut retires, mut retires_at) = (Vec::new(), Vec::new());
    for (voeu, (event, position, candidat)) in &last {
        match event {
            VoeuEvent::Formule(v) => formules.push((v, *position, candidat)),
            VoeuEvent::Retire(_) => {
                retires.push(voeu.clone());
                retires_at.push(*position);
            }
        }
    }
    if !formules.is_empty() {
        write_formules(tx, &formules).await?;
    }
    if !retires.is_empty() {
        sqlx::query!(
            "UPDATE rm_voeux v SET retire = true, position = r.position
             FROM unnest($1::text[], $2::bigint[]) AS r (voeu, position) WHERE v.voeu = r.voeu",
            &retires,
            &retires_at,
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(concerned)
}

/// The candidates of erased persons keep that person's key, so that their vœux stay matched; their
/// identity is emptied as their events now read. The vœux concerned, and the dossiers to fold again.
async fn erase(
    tx: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<(Vec<String>, Vec<String>), ProjectionError> {
    let erasures = PersonneEffacee::all_in(events);
    if erasures.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let (mut candidats, mut personnes) = (Vec::new(), Vec::new());
    for e in &erasures {
        for c in &e.candidats {
            candidats.push(c.clone());
            personnes.push(e.personne.clone());
        }
    }
    let keys: Vec<String> = erasures.iter().map(|e| e.personne.clone()).collect();
    sqlx::query!(
        "INSERT INTO rm_voeux_effaces (candidat, personne)
         SELECT * FROM unnest($1::text[], $2::text[])
         UNION SELECT DISTINCT candidat, personne FROM rm_voeux WHERE personne = ANY($3)
         ON CONFLICT (candidat) DO UPDATE SET personne = excluded.personne",
        &candidats,
        &personnes,
        &keys
    )
    .execute(&mut *tx)
    .await?;
    let voeux = sqlx::query_scalar!(
        "UPDATE rm_voeux v SET personne = e.personne, ine = NULL, nom = '', prenoms = '', date_de_naissance = NULL,
                email = NULL, telephone = NULL, email_responsable = NULL, telephone_responsable = NULL,
                code_postal = NULL
         FROM rm_voeux_effaces e WHERE e.candidat = v.candidat AND e.personne = ANY($1)
         RETURNING v.voeu",
        &keys
    )
    .fetch_all(&mut *tx)
    .await?;
    let all_keys: Vec<String> = erasures.iter().flat_map(|e| e.cles().cloned()).collect();
    let dossiers =
        sqlx::query_scalar!("SELECT dossier_id FROM rm_voeu_dossiers WHERE personne = ANY($1)", &all_keys)
            .fetch_all(&mut *tx)
            .await?;
    Ok((voeux, dossiers))
}

/// An optional value as text.
fn text<T: ToString>(value: &Option<T>) -> Option<String> {
    value.as_ref().map(ToString::to_string)
}

async fn write_formules(
    tx: &mut PgConnection,
    rows: &[(&VoeuFormule, i64, &str)],
) -> Result<(), ProjectionError> {
    fn col<T>(rows: &[(&VoeuFormule, i64, &str)], f: impl Fn(&VoeuFormule) -> T) -> Vec<T> {
        rows.iter().map(|(v, _, _)| f(v)).collect()
    }
    sqlx::query!(
        "INSERT INTO rm_voeux (voeu, candidat, source, rentree, academie, region, uai_formateur, uai_responsable,
                               formation, cfd, rncp, libelle_formation, rang, ine, personne, nom, prenoms,
                               date_de_naissance, email, telephone, email_responsable, telephone_responsable,
                               code_postal, retire, position)
         SELECT voeu, candidat, source, rentree, academie, region, uai_formateur, uai_responsable, formation, cfd,
                rncp, libelle_formation, rang, ine,
                coalesce(personne, (SELECT e.personne FROM rm_voeux_effaces e WHERE e.candidat = r.candidat)),
                nom, prenoms, date_de_naissance, email, telephone,
                email_responsable, telephone_responsable, code_postal, false, position
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::text[], $15::text[],
                     $16::text[], $17::text[], $18::date[], $19::text[], $20::text[], $21::text[], $22::text[],
                     $23::text[], $24::bigint[])
           AS r (voeu, candidat, source, rentree, academie, region, uai_formateur, uai_responsable, formation, cfd,
                 rncp, libelle_formation, rang, ine, personne, nom, prenoms, date_de_naissance, email, telephone,
                 email_responsable, telephone_responsable, code_postal, position)
         ON CONFLICT (voeu) DO UPDATE SET candidat = excluded.candidat, academie = excluded.academie,
             region = excluded.region, uai_formateur = excluded.uai_formateur,
             uai_responsable = excluded.uai_responsable, formation = excluded.formation, cfd = excluded.cfd,
             rncp = excluded.rncp, libelle_formation = excluded.libelle_formation, rang = excluded.rang,
             ine = excluded.ine, personne = excluded.personne, nom = excluded.nom, prenoms = excluded.prenoms,
             date_de_naissance = excluded.date_de_naissance, email = excluded.email,
             telephone = excluded.telephone, email_responsable = excluded.email_responsable,
             telephone_responsable = excluded.telephone_responsable, code_postal = excluded.code_postal,
             retire = false, position = excluded.position",
        &col(rows, |v| v.voeu.clone()),
        &rows.iter().map(|(_, _, c)| (*c).to_owned()).collect::<Vec<_>>(),
        &col(rows, |v| v.source.as_str().to_owned()),
        &col(rows, |v| v.rentree),
        &col(rows, |v| v.academie.clone()),
        &col(rows, |v| territoire::region_of_academie(&v.academie).unwrap_or_default().to_owned()),
        &col(rows, |v| v.uai_formateur.to_string()),
        &col(rows, |v| text(&v.uai_responsable)) as &[Option<String>],
        &col(rows, |v| v.formation.cle.clone()),
        &col(rows, |v| text(&v.formation.cfd)) as &[Option<String>],
        &col(rows, |v| text(&v.formation.rncp)) as &[Option<String>],
        &col(rows, |v| v.formation.libelle.clone()) as &[Option<String>],
        &col(rows, |v| v.rang) as &[Option<i32>],
        &col(rows, |v| text(&v.candidat.ine)) as &[Option<String>],
        &col(rows, |v| v.candidat.personne().map(|p| p.identite)) as &[Option<String>],
        &col(rows, |v| v.candidat.nom.clone()),
        &col(rows, |v| v.candidat.prenoms.clone()),
        &col(rows, |v| v.candidat.date_de_naissance) as &[Option<chrono::NaiveDate>],
        &col(rows, |v| text(&v.candidat.email)) as &[Option<String>],
        &col(rows, |v| text(&v.candidat.telephone)) as &[Option<String>],
        &col(rows, |v| text(&v.candidat.email_responsable))
            as &[Option<String>],
        &col(rows, |v| text(&v.candidat.telephone_responsable))
            as &[Option<String>],
        &col(rows, |v| text(&v.candidat.code_postal)) as &[Option<String>],
        &rows.iter().map(|(_, p, _)| *p).collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn write_dossiers(tx: &mut PgConnection, rows: &[DossierFaits]) -> Result<(), ProjectionError> {
    fn col<T>(rows: &[DossierFaits], f: impl Fn(&DossierFaits) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    sqlx::query!(
        "INSERT INTO rm_voeu_dossiers (dossier_id, annee_scolaire, uai_formateur, uai_responsable, ine, personne,
                                       retire, debut, fin, position)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                              $7::boolean[], $8::date[], $9::date[], $10::bigint[])
         ON CONFLICT (dossier_id) DO UPDATE SET annee_scolaire = excluded.annee_scolaire,
             uai_formateur = excluded.uai_formateur, uai_responsable = excluded.uai_responsable,
             ine = excluded.ine, personne = excluded.personne, retire = excluded.retire, debut = excluded.debut,
             fin = excluded.fin, position = excluded.position",
        &col(rows, |d| d.dossier_id.clone()),
        &col(rows, |d| d.annee_scolaire.clone()),
        &col(rows, |d| d.uai_formateur.clone()),
        &col(rows, |d| d.uai_responsable.clone()),
        &col(rows, |d| d.ine.clone()) as &[Option<String>],
        &col(rows, |d| d.personne.clone()),
        &col(rows, |d| d.retire),
        &col(rows, |d| d.debut) as &[Option<chrono::NaiveDate>],
        &col(rows, |d| d.fin) as &[Option<chrono::NaiveDate>],
        &col(rows, |d| d.position),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Match `voeux` again against the dossiers as they now are.
async fn rematch(tx: &mut PgConnection, voeux: &[String]) -> Result<(), ProjectionError> {
    sqlx::query!(
        "UPDATE rm_voeux v SET dossier_id = m.dossier_id, debut = m.debut, fin = m.fin
         FROM (SELECT v.voeu, d.dossier_id, d.debut, d.fin
               FROM rm_voeux v
               LEFT JOIN LATERAL (
                   SELECT d.dossier_id, d.debut, d.fin FROM rm_voeu_dossiers d
                   WHERE (d.ine = v.ine OR d.personne = v.personne)
                     AND CASE WHEN v.ine IS NOT NULL AND d.ine IS NOT NULL THEN d.ine = v.ine
                              ELSE d.personne = v.personne END
                     AND NOT d.retire
                     AND d.annee_scolaire = v.rentree || '-' || (v.rentree + 1)
                     AND v.uai_formateur IN (d.uai_formateur, d.uai_responsable)
                   ORDER BY d.debut NULLS LAST, d.dossier_id
                   LIMIT 1) d ON true
               WHERE v.voeu = ANY($1)) m
         WHERE v.voeu = m.voeu
           AND (v.dossier_id, v.debut, v.fin) IS DISTINCT FROM (m.dossier_id, m.debut, m.fin)",
        voeux,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// (source, rentrée, niveau, clé, first day under contract, days under contract or -1) → (région,
/// candidats)
type Contrats = BTreeMap<(String, i32, String, String, chrono::NaiveDate, i32), (String, i64)>;
/// (source, rentrée, niveau, clé) → (région, vœux, candidats, inscrits)
type Groupes = BTreeMap<(String, i32, String, String), (String, i64, i64, i64)>;

/// A candidate's row of a campaign and group, as the deltas read it.
#[derive(sqlx::FromRow)]
struct Candidat {
    source: String,
    rentree: i32,
    niveau: String,
    cle: String,
    region: String,
    voeux: i32,
    inscrit: bool,
    debut: Option<chrono::NaiveDate>,
    fin: Option<chrono::NaiveDate>,
}

/// Move the contracts' counts by `contrats` (dropping the cells that fall to zero).
async fn write_contrats(tx: &mut PgConnection, contrats: Contrats) -> Result<(), ProjectionError> {
    let contrats: Vec<_> = contrats.into_iter().filter(|(_, (_, n))| *n != 0).collect();
    if contrats.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO rm_voeux_contrats (source, rentree, niveau, cle, region, debut, duree, candidats)
         SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::date[], $7::int[],
                              $8::bigint[])
         ON CONFLICT (source, rentree, niveau, cle, debut, duree) DO UPDATE SET region = excluded.region,
             candidats = rm_voeux_contrats.candidats + excluded.candidats",
    )
    .bind(contrats.iter().map(|(k, _)| k.0.clone()).collect::<Vec<_>>())
    .bind(contrats.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
    .bind(contrats.iter().map(|(k, _)| k.2.clone()).collect::<Vec<_>>())
    .bind(contrats.iter().map(|(k, _)| k.3.clone()).collect::<Vec<_>>())
    .bind(contrats.iter().map(|(_, v)| v.0.clone()).collect::<Vec<_>>())
    .bind(contrats.iter().map(|(k, _)| k.4).collect::<Vec<_>>())
    .bind(contrats.iter().map(|(k, _)| k.5).collect::<Vec<_>>())
    .bind(contrats.iter().map(|(_, v)| v.1).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM rm_voeux_contrats WHERE candidats = 0").execute(&mut *tx).await?;
    Ok(())
}

/// Recompute the rows of the candidates of `voeux`, one per campaign and group of each level their vœux
/// fall in (académie, région, national), each from that group's vœux as the funnel's general path counts
/// them; and move the groups' sums by the difference.
async fn write_candidats(tx: &mut PgConnection, voeux: &[String]) -> Result<(), ProjectionError> {
    let candidats: Vec<String> =
        sqlx::query_scalar!("SELECT DISTINCT candidat FROM rm_voeux WHERE voeu = ANY($1)", voeux)
            .fetch_all(&mut *tx)
            .await?;
    let mut delta = Groupes::new();
    let mut contrats = Contrats::new();
    let mut add = |r: Candidat, sign: i64| {
        if let Some(debut) = r.debut {
            let duree = r.fin.map_or(-1, |fin| (fin - debut).num_days() as i32);
            let key = (r.source.clone(), r.rentree, r.niveau.clone(), r.cle.clone(), debut, duree);
            contrats.entry(key).or_insert_with(|| (r.region.clone(), 0)).1 += sign;
        }
        let d = delta.entry((r.source, r.rentree, r.niveau, r.cle)).or_insert_with(|| (r.region, 0, 0, 0));
        d.1 += sign * i64::from(r.voeux);
        d.2 += sign;
        d.3 += sign * i64::from(r.inscrit);
    };
    let old: Vec<Candidat> = sqlx::query_as(
        "DELETE FROM rm_voeux_candidats WHERE candidat = ANY($1)
         RETURNING source, rentree, niveau, cle, region, voeux, inscrit, debut, fin",
    )
    .bind(&candidats)
    .fetch_all(&mut *tx)
    .await?;
    for r in old {
        add(r, -1);
    }
    let new: Vec<Candidat> = sqlx::query_as(
        "INSERT INTO rm_voeux_candidats (source, rentree, candidat, niveau, cle, region, voeux, inscrit, debut, fin)
         SELECT v.source, v.rentree, v.candidat, g.niveau, g.cle, g.region, count(*)::int,
                bool_or(v.dossier_id IS NOT NULL), min(v.debut),
                (array_agg(v.fin ORDER BY v.debut NULLS LAST, v.voeu))[1]
         FROM rm_voeux v
         CROSS JOIN LATERAL (VALUES ('academie', v.academie, v.region), ('region', v.region, v.region),
                                    ('national', '', '')) AS g(niveau, cle, region)
         WHERE v.candidat = ANY($1) AND NOT v.retire
         GROUP BY v.source, v.rentree, v.candidat, g.niveau, g.cle, g.region
         RETURNING source, rentree, niveau, cle, region, voeux, inscrit, debut, fin",
    )
    .bind(&candidats)
    .fetch_all(&mut *tx)
    .await?;
    for r in new {
        add(r, 1);
    }
    write_contrats(tx, contrats).await?;
    let delta: Vec<_> = delta.into_iter().filter(|(_, d)| (d.1, d.2, d.3) != (0, 0, 0)).collect();
    if delta.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO rm_voeux_academies (source, rentree, niveau, cle, region, voeux, candidats, inscrits)
         SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                              $7::bigint[], $8::bigint[])
         ON CONFLICT (source, rentree, niveau, cle) DO UPDATE SET region = excluded.region,
             voeux = rm_voeux_academies.voeux + excluded.voeux,
             candidats = rm_voeux_academies.candidats + excluded.candidats,
             inscrits = rm_voeux_academies.inscrits + excluded.inscrits",
    )
    .bind(delta.iter().map(|(k, _)| k.0.clone()).collect::<Vec<_>>())
    .bind(delta.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
    .bind(delta.iter().map(|(k, _)| k.2.clone()).collect::<Vec<_>>())
    .bind(delta.iter().map(|(k, _)| k.3.clone()).collect::<Vec<_>>())
    .bind(delta.iter().map(|(_, d)| d.0.clone()).collect::<Vec<_>>())
    .bind(delta.iter().map(|(_, d)| d.1).collect::<Vec<_>>())
    .bind(delta.iter().map(|(_, d)| d.2).collect::<Vec<_>>())
    .bind(delta.iter().map(|(_, d)| d.3).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM rm_voeux_academies WHERE candidats = 0").execute(&mut *tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn point(y: i32, m: u32, d: u32, statut: Statut) -> ChangePoint {
        ChangePoint { date: NaiveDate::from_ymd_opt(y, m, d).expect("date"), statut }
    }

    #[test]
    fn the_first_period_under_contract_lasts_until_a_rupture_and_through_the_end_of_the_formation() {
        let parcours = [
            point(2026, 9, 1, Statut::Inscrit),
            point(2026, 10, 1, Statut::Apprenti),
            point(2026, 12, 1, Statut::Rupturant),
            point(2027, 1, 15, Statut::Apprenti),
            point(2028, 7, 1, Statut::FinDeFormation),
        ];
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d);
        assert_eq!(sous_contrat(&parcours), (day(10, 1), day(12, 1)));
        let lasting = [point(2026, 10, 1, Statut::Apprenti), point(2028, 7, 1, Statut::FinDeFormation)];
        assert_eq!(sous_contrat(&lasting), (day(10, 1), None));
        let never = [point(2026, 9, 1, Statut::Inscrit), point(2027, 7, 1, Statut::FinDeFormation)];
        assert_eq!(sous_contrat(&never), (None, None));
    }
}
