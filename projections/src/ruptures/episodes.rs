//! The entries of the queue recomputed for the persons a batch concerns, placed in their Mission
//! Locale and written (an entry and its past episodes).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use events::domain::communes;
use events::rupture::RuptureEvent;
use sqlx::PgConnection;

use super::entree::{self, DossierFaits, Entree};
use super::write::{Action, DossierRow};
use crate::runtime::ProjectionError;

/// An episode as written.
pub(super) struct EpisodeRow {
    pub(super) entree: String,
    pub(super) e: Entree,
    pub(super) ml_id: Option<String>,
    pub(super) situation: Option<events::rupture::SituationRenseignee>,
    pub(super) qualifiee_le: Option<chrono::DateTime<chrono::Utc>>,
    pub(super) suivi_conjoint: bool,
    /// The CFA refused to share the episode with the Mission Locale.
    pub(super) partage_refuse: bool,
    /// The keys the person's dossiers had before, whose actions are the person's.
    pub(super) anciennes: Vec<String>,
    pub(super) position: i64,
}

/// Recompute the entries of `personnes` (with the position of the last event about each), and of
/// those whose dossiers were known under one of them before, and write them.
pub(super) async fn write_entrees(
    tx: &mut PgConnection,
    concerned: &BTreeMap<String, i64>,
) -> Result<(), ProjectionError> {
    let mut concerned = concerned.clone();
    for (heir, position) in crate::fold::heirs(tx, "rm_rupture_dossiers", &concerned).await? {
        let at = concerned.entry(heir).or_default();
        *at = (*at).max(position);
    }
    let concerned = &concerned;
    let personnes: Vec<String> = concerned.keys().cloned().collect();
    let personnes = personnes.as_slice();
    let dossiers: Vec<DossierRow> = sqlx::query_as(
        "SELECT dossier_id, personne, parcours, date_de_naissance, rqth, code_commune_insee, code_postal, retire,
                uai_formateur, siret_formateur, uai_responsable, siret_responsable, anciennes, declarees,
                deca
         FROM rm_rupture_dossiers WHERE personne = ANY($1) ORDER BY position, dossier_id",
    )
    .bind(personnes)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_person: HashMap<String, Vec<DossierFaits>> = HashMap::new();
    let mut anciennes_of: HashMap<String, BTreeSet<String>> = HashMap::new();
    for d in dossiers {
        anciennes_of.entry(d.personne.clone()).or_default().extend(d.anciennes.iter().cloned());
        by_person.entry(d.personne).or_default().push(DossierFaits {
            dossier_id: d.dossier_id,
            parcours: d.parcours.0,
            naissance: d.date_de_naissance,
            rqth: d.rqth,
            code_commune_insee: d.code_commune_insee,
            code_postal: d.code_postal,
            retire: d.retire,
            formateur: (d.uai_formateur, d.siret_formateur),
            responsable: (d.uai_responsable, d.siret_responsable),
            anciennes: d.anciennes,
            declarees: d.declarees,
            deca: d.deca,
        });
    }
    let keys: Vec<&String> = personnes.iter().chain(anciennes_of.values().flatten()).collect();
    let actions: Vec<Action> = sqlx::query_as(
        "SELECT entree, position, event_type, recorded_at, date_rupture, data FROM rm_rupture_actions
         WHERE entree = ANY($1) ORDER BY position",
    )
    .bind(&keys)
    .fetch_all(&mut *tx)
    .await?;
    let mut actions_of: HashMap<&str, Vec<&Action>> = HashMap::new();
    for a in &actions {
        actions_of.entry(a.entree.as_str()).or_default().push(a);
    }
    let mut lignes: Vec<EpisodeRow> = Vec::new();
    for personne in personnes {
        let episodes = by_person.get(personne).map(|d| entree::episodes(d)).unwrap_or_default();
        let anciennes = anciennes_of.get(personne);
        let first = lignes.len();
        lignes.extend(episodes.into_iter().map(|e| EpisodeRow {
            entree: personne.clone(),
            e,
            ml_id: None,
            situation: None,
            qualifiee_le: None,
            suivi_conjoint: false,
            partage_refuse: false,
            anciennes: anciennes.into_iter().flatten().cloned().collect(),
            position: concerned[personne],
        }));
        let episodes = &mut lignes[first..];
        // The person's actions, and those recorded under the keys their dossiers had before, in log
        // order.
        let mut own: Vec<&Action> = std::iter::once(personne)
            .chain(anciennes.into_iter().flatten())
            .flat_map(|k| actions_of.get(k.as_str()).into_iter().flatten().copied())
            .collect();
        own.sort_by_key(|a| a.position);
        // Each action is about the episode of the contract whose rupture it looked at: the latest
        // episode whose contract began by then.
        for a in own {
            let Some(ligne) = episodes.iter_mut().rev().find(|l| l.e.contrat_debut <= a.date_rupture) else {
                continue;
            };
            match RuptureEvent::decode(&a.event_type, &a.data) {
                Ok(Some(RuptureEvent::Situation(s))) => {
                    ligne.situation = Some(s);
                    ligne.qualifiee_le = Some(a.recorded_at);
                }
                Ok(Some(RuptureEvent::SuiviConjoint(_))) => ligne.suivi_conjoint = true,
                Ok(Some(RuptureEvent::PartageRefuse(_))) => ligne.partage_refuse = true,
                Ok(None) => {}
                Err(error) => {
                    return Err(ProjectionError::ReadModel {
                        table: "rm_rupture_actions",
                        message: error.to_string(),
                    });
                }
            }
        }
    }
    // Episodes no longer in the log's story stay, inactive, stamped (their Mission Locale sees them go).
    let positions: Vec<i64> = personnes.iter().map(|p| concerned[p]).collect();
    sqlx::query(
        "UPDATE rm_ruptures r SET active = false, anciennes = '{}', position = t.position
         FROM unnest($1::text[], $2::bigint[]) AS t(entree, position) WHERE r.entree = t.entree",
    )
    .bind(personnes)
    .bind(&positions)
    .execute(&mut *tx)
    .await?;
    let places = placements(
        tx,
        &lignes
            .iter()
            .map(|l| (l.e.code_commune_insee.as_deref(), l.e.code_postal.as_deref()))
            .collect::<Vec<_>>(),
    )
    .await?;
    for (ligne, ml) in lignes.iter_mut().zip(places) {
        ligne.ml_id = ml;
    }
    upsert(tx, &lignes).await?;
    let heritees: Vec<(&str, serde_json::Value)> = lignes
        .iter()
        .filter(|l| !l.anciennes.is_empty())
        .map(|l| (l.entree.as_str(), serde_json::json!(l.anciennes)))
        .collect();
    if !heritees.is_empty() {
        sqlx::query(
            "UPDATE rm_ruptures r SET anciennes = ARRAY(SELECT jsonb_array_elements_text(t.anciennes))
             FROM unnest($1::text[], $2::jsonb[]) AS t(entree, anciennes) WHERE r.entree = t.entree AND r.active",
        )
        .bind(heritees.iter().map(|(e, _)| *e).collect::<Vec<_>>())
        .bind(heritees.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The Mission Locale of each residence, from the projection's territories.
pub(super) async fn placements(
    tx: &mut PgConnection,
    residences: &[(Option<&str>, Option<&str>)],
) -> Result<Vec<Option<String>>, ProjectionError> {
    let candidates: Vec<Vec<String>> = residences.iter().map(|(i, c)| communes::candidats(*i, *c)).collect();
    let all: Vec<String> =
        candidates.iter().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let owners: HashMap<String, String> =
        sqlx::query!("SELECT commune, ml_id FROM rm_ml_communes WHERE commune = ANY($1)", &all)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| (r.commune, r.ml_id))
            .collect();
    Ok(candidates.iter().map(|c| c.iter().find_map(|commune| owners.get(commune).cloned())).collect())
}

/// Write the entries.
pub(super) async fn upsert(tx: &mut PgConnection, lignes: &[EpisodeRow]) -> Result<(), ProjectionError> {
    if lignes.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&EpisodeRow) -> String| lignes.iter().map(f).collect::<Vec<_>>();
    let opt = |f: fn(&EpisodeRow) -> Option<String>| lignes.iter().map(f).collect::<Vec<_>>();
    sqlx::query!(
        "INSERT INTO rm_ruptures (entree, active, ml_id, dossier_id, date_rupture, contrat_debut, sortie, sortie_motif,
                                  date_de_naissance, rqth, code_commune_insee, code_postal, uai_formateur,
                                  siret_formateur, uai_responsable, siret_responsable, situation, situation_autre,
                                  commentaire, connaissance, qualifiee_le, suivi_conjoint, probleme_type,
                                  probleme_detail, souhaite_rdv, partage_refuse, declaree, position)
         SELECT e, true, ml, d, dr, cd, so, sm, dn, rq, ci, cp, uf, sf, ur, sr, si, sa, co, cn, ql, sc, pt, pd, sr2,
                pr, de, po
         FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::date[], $6::date[], $7::text[], $8::date[],
                     $9::boolean[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                     $16::text[], $17::text[], $18::text[], $19::text[], $20::timestamptz[], $21::boolean[],
                     $22::bigint[], $23::text[], $24::text[], $25::boolean[], $26::boolean[], $27::boolean[])
              AS t(e, ml, d, dr, cd, so, sm, dn, rq, ci, cp, uf, sf, ur, sr, si, sa, co, cn, ql, sc, po, pt, pd, sr2,
                   pr, de)
         ON CONFLICT (entree, date_rupture) DO UPDATE SET active = true, ml_id = excluded.ml_id,
             dossier_id = excluded.dossier_id, contrat_debut = excluded.contrat_debut, sortie = excluded.sortie,
             sortie_motif = excluded.sortie_motif, date_de_naissance = excluded.date_de_naissance,
             rqth = excluded.rqth, code_commune_insee = excluded.code_commune_insee,
             code_postal = excluded.code_postal, uai_formateur = excluded.uai_formateur,
             siret_formateur = excluded.siret_formateur, uai_responsable = excluded.uai_responsable,
             siret_responsable = excluded.siret_responsable, situation = excluded.situation,
             situation_autre = excluded.situation_autre, commentaire = excluded.commentaire,
             connaissance = excluded.connaissance, qualifiee_le = excluded.qualifiee_le,
             suivi_conjoint = excluded.suivi_conjoint, probleme_type = excluded.probleme_type,
             probleme_detail = excluded.probleme_detail, souhaite_rdv = excluded.souhaite_rdv,
             partage_refuse = excluded.partage_refuse, declaree = excluded.declaree,
             position = excluded.position",
        &col(|l| l.entree.clone()),
        &opt(|l| l.ml_id.clone()) as &[Option<String>],
        &col(|l| l.e.dossier_id.clone()),
        &lignes.iter().map(|l| l.e.date_rupture).collect::<Vec<_>>(),
        &lignes.iter().map(|l| l.e.contrat_debut).collect::<Vec<_>>(),
        &lignes.iter().map(|l| l.e.sortie.map(|s| s.0)).collect::<Vec<_>>() as &[Option<chrono::NaiveDate>],
        &opt(|l| l.e.sortie.map(|s| s.1.as_str().to_owned())) as &[Option<String>],
        &lignes.iter().map(|l| l.e.naissance).collect::<Vec<_>>(),
        &lignes.iter().map(|l| l.e.rqth).collect::<Vec<_>>(),
        &opt(|l| l.e.code_commune_insee.clone()) as &[Option<String>],
        &opt(|l| l.e.code_postal.clone()) as &[Option<String>],
        &col(|l| l.e.formateur.0.clone()),
        &col(|l| l.e.formateur.1.clone()),
        &col(|l| l.e.responsable.0.clone()),
        &col(|l| l.e.responsable.1.clone()),
        &opt(|l| l.situation.as_ref().map(|s| s.situation.as_str().to_owned())) as &[Option<String>],
        &opt(|l| l.situation.as_ref().and_then(|s| s.situation_autre.clone())) as &[Option<String>],
        &opt(|l| l.situation.as_ref().and_then(|s| s.commentaire.clone())) as &[Option<String>],
        &opt(|l| l.situation.as_ref().and_then(|s| s.connaissance).map(|c| c.as_str().to_owned()))
            as &[Option<String>],
        &lignes.iter().map(|l| l.qualifiee_le).collect::<Vec<_>>() as &[Option<chrono::DateTime<chrono::Utc>>],
        &lignes.iter().map(|l| l.suivi_conjoint).collect::<Vec<_>>(),
        &lignes.iter().map(|l| l.position).collect::<Vec<_>>(),
        &opt(|l| l.situation.as_ref().and_then(|s| s.probleme_type).map(|p| p.as_str().to_owned()))
            as &[Option<String>],
        &opt(|l| l.situation.as_ref().and_then(|s| s.probleme_detail.clone())) as &[Option<String>],
        &lignes.iter().map(|l| l.situation.as_ref().is_some_and(|s| s.souhaite_rdv)).collect::<Vec<_>>(),
        &lignes.iter().map(|l| l.partage_refuse).collect::<Vec<_>>(),
        &lignes.iter().map(|l| l.e.declaree).collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Place again the entries a change of these communes' Mission Locale (at `position`) may move,
/// stamping those it moved.
pub(super) async fn replace(
    tx: &mut PgConnection,
    territory: &BTreeSet<String>,
    position: i64,
) -> Result<(), ProjectionError> {
    let (codes, postaux) = communes::residences_de(territory);
    let rows = sqlx::query!(
        "SELECT entree, date_rupture, ml_id, code_commune_insee, code_postal FROM rm_ruptures
         WHERE code_commune_insee = ANY($1) OR code_postal = ANY($2) ORDER BY entree, date_rupture",
        &codes,
        &postaux,
    )
    .fetch_all(&mut *tx)
    .await?;
    let places = placements(
        tx,
        &rows.iter().map(|r| (r.code_commune_insee.as_deref(), r.code_postal.as_deref())).collect::<Vec<_>>(),
    )
    .await?;
    let moved: Vec<_> = rows.into_iter().zip(places).filter(|(r, place)| r.ml_id != *place).collect();
    sqlx::query!(
        "UPDATE rm_ruptures r SET ml_id = t.ml, position = $4
         FROM unnest($1::text[], $2::date[], $3::text[]) AS t(entree, date_rupture, ml)
         WHERE (r.entree, r.date_rupture) = (t.entree, t.date_rupture)",
        &moved.iter().map(|(r, _)| r.entree.clone()).collect::<Vec<_>>(),
        &moved.iter().map(|(r, _)| r.date_rupture).collect::<Vec<_>>(),
        &moved.iter().map(|(_, place)| place.clone()).collect::<Vec<_>>() as &[Option<String>],
        position,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
