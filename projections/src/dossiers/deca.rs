//! DECA contracts as dossiers (domain.md §13): for an organisme formateur that never transmitted
//! through an ERP or a file, each contract of the national base counts as one dossier per année
//! scolaire it spans (`deca-<numero>:<année>`), source `DECA`, with the parcours the status rules give
//! a learner who entered on the contract's first day, for the contract's planned length.
//!
//! The first dossier event an ERP or a file sends for an organisme (`rm_organismes_transmissions`) is
//! its switch: from that position on, its DECA dossiers count for nothing (their rows go, their counts
//! are taken back at that position in the history and the versions), so "as known at" before it still
//! shows them. A contract's dossiers are evaluated at each of its events and at the switch of the
//! organisme each of its states names, the live batches and a build alike.

use std::collections::{BTreeSet, HashMap};

use chrono::Days;
use events::RecordedEvent;
use events::deca::{ContratDecaEnregistre, DecaEvent};
use events::domain::AnneeScolaire;
use sqlx::PgConnection;

use crate::indicateurs::segments::fenetre;
use crate::indicateurs::{Comptage, Dimensions, Source};
use crate::runtime::ProjectionError;
use crate::status::Faits;

use super::row::{Row, Steps};
use super::{DossiersProjection, niveau};

/// Where each organisme formateur (UAI, SIRET) first transmitted a dossier: that event's position.
pub(super) type Transmissions = HashMap<(String, String), i64>;

/// The années scolaires a contract counts in at most (a contract lasts three years at most; a date
/// typed wrong must not make hundreds of dossiers).
const ANNEES_MAX: usize = 4;

/// The contract stream a DECA dossier id belongs to (`None` for an ERP or file dossier).
pub(crate) fn stream_of(dossier_id: &str) -> Option<&str> {
    dossier_id.starts_with("deca-").then(|| dossier_id.rsplit_once(':').map(|(s, _)| s)).flatten()
}

fn organisme(contrat: &ContratDecaEnregistre) -> (String, String) {
    let o = &contrat.contrat.organisme;
    (o.uai.to_string(), o.siret.to_string())
}

/// The années scolaires from the contract's start to its rupture, else its planned end.
fn annees(contrat: &ContratDecaEnregistre) -> Vec<AnneeScolaire> {
    let c = &contrat.contrat;
    let fin = c.date_rupture.unwrap_or(c.date_fin_prevue).max(c.date_debut);
    let mut annees = vec![AnneeScolaire::containing(c.date_debut)];
    while annees.len() < ANNEES_MAX {
        let derniere = fenetre(annees.last().expect("one at least")).1;
        if derniere >= fin {
            break;
        }
        annees.push(AnneeScolaire::containing(derniere + Days::new(1)));
    }
    annees
}

/// The contract's state after each of its events, by position (`None` once withdrawn).
pub(crate) fn states(
    events: &[&RecordedEvent],
) -> Result<Vec<(i64, Option<ContratDecaEnregistre>)>, ProjectionError> {
    let mut states = Vec::with_capacity(events.len());
    for event in events {
        let state = match DecaEvent::decode(&event.event_type, &event.data)
            .map_err(|message| ProjectionError::Event { position: event.position, message })?
        {
            DecaEvent::Enregistre(contrat) => Some(*contrat),
            DecaEvent::Retire(_) => None,
        };
        states.push((event.position, state.clone()));
    }
    Ok(states)
}

impl DossiersProjection {
    /// The dossiers of a contract stream, each with its row after each of the stream's events and at
    /// each switch of an organisme it names, from position `first` on (none of those in the batch: one
    /// step at `last`).
    pub(super) fn deca_steps(
        &self,
        stream: &str,
        events: &[&RecordedEvent],
        (first, last): (i64, i64),
        transmissions: &Transmissions,
    ) -> Result<Vec<(String, Steps)>, ProjectionError> {
        let states = states(events)?;
        let transmis = |contrat: &ContratDecaEnregistre| transmissions.get(&organisme(contrat)).copied();
        let mut points: BTreeSet<i64> = states.iter().map(|(p, _)| *p).collect();
        points.extend(states.iter().filter_map(|(p, s)| s.as_ref().and_then(transmis).filter(|t| t > p)));
        let mut points: Vec<i64> = points.into_iter().filter(|p| *p >= first).collect();
        if points.is_empty() {
            points.push(last);
        }
        let toutes: BTreeSet<AnneeScolaire> =
            states.iter().filter_map(|(_, s)| s.as_ref()).flat_map(annees).collect();
        let mut dossiers = Vec::with_capacity(toutes.len());
        for annee in toutes {
            let id = format!("{stream}:{annee}", annee = annee.as_str());
            let steps = points
                .iter()
                .map(|&q| {
                    // The row is as of the contract's last event by then (a refold for an erasure
                    // moves nothing else).
                    let Some((at, state)) = states.iter().take_while(|(p, _)| *p <= q).last() else {
                        return (q, None);
                    };
                    let row = state
                        .as_ref()
                        .filter(|c| transmis(c).is_none_or(|t| t > q))
                        .filter(|c| annees(c).contains(&annee))
                        .map(|c| self.deca_row(&id, c, &annee, *at));
                    (q, row)
                })
                .collect();
            dossiers.push((id, steps));
        }
        Ok(dossiers)
    }

    /// A contract's dossier for one année scolaire, as known at `position`.
    fn deca_row(
        &self,
        id: &str,
        enregistre: &ContratDecaEnregistre,
        annee: &AnneeScolaire,
        position: i64,
    ) -> Row {
        let c = &enregistre.contrat;
        let faits = Faits::of_deca(c);
        let cfd = c.cfd.as_ref().map(ToString::to_string);
        let rncp = c.rncp.as_ref().map(ToString::to_string);
        let dims = Dimensions {
            uai: c.organisme.uai.as_str().into(),
            siret: c.organisme.siret.as_str().into(),
            formation: cfd.as_deref().or(rncp.as_deref()).unwrap_or_default().into(),
            niveau: cfd.as_deref().and_then(niveau).unwrap_or(0),
            annee_formation: Dimensions::annee_formation_de(None),
            source: Source::Deca.as_str().into(),
            ..Dimensions::default()
        };
        Row {
            dossier_id: id.to_owned(),
            id_erp_apprenant: c.numero.clone(),
            uai_responsable: c.organisme.uai.to_string(),
            siret_responsable: c.organisme.siret.to_string(),
            cfd,
            rncp,
            code_commune_insee: c.apprenti.code_commune_insee.clone(),
            personne: enregistre.personne.clone(),
            rqth: false,
            retire: false,
            libelle_formation: None,
            identite: super::identite::Identite::of_apprenti(&c.apprenti),
            comptage: Comptage {
                annee_scolaire: annee.clone(),
                naissance: c.apprenti.date_de_naissance,
                parcours: self.rules.parcours(&faits),
                dims,
            },
            position,
        }
    }
}

/// Note in `first` the organismes formateurs of a dossier's `steps` (an ERP or file dossier after
/// each of its events), each at the first position it appears at.
pub(super) fn noter(first: &mut Transmissions, steps: &Steps) {
    for (position, row) in steps {
        if let Some(row) = row {
            let key = (row.comptage.dims.uai.to_string(), row.comptage.dims.siret.to_string());
            let known = first.entry(key).or_insert(*position);
            *known = (*known).min(*position);
        }
    }
}

/// The organismes of `found` whose first transmission the read model did not know yet, recorded.
pub(super) async fn nouvelles(
    tx: &mut PgConnection,
    found: &Transmissions,
) -> Result<Vec<(String, String)>, ProjectionError> {
    let known = connues(tx, &found.keys().cloned().collect::<Vec<_>>()).await?;
    let new: Vec<((String, String), i64)> =
        found.iter().filter(|(key, _)| !known.contains_key(*key)).map(|(k, p)| (k.clone(), *p)).collect();
    write_transmissions(tx, &new).await?;
    Ok(new.into_iter().map(|(key, _)| key).collect())
}

/// The first transmissions of these organismes, as the read model knows them.
pub(super) async fn connues(
    tx: &mut PgConnection,
    organismes: &[(String, String)],
) -> Result<Transmissions, ProjectionError> {
    if organismes.is_empty() {
        return Ok(Transmissions::new());
    }
    let (uais, sirets): (Vec<&str>, Vec<&str>) =
        organismes.iter().map(|(u, s)| (u.as_str(), s.as_str())).unzip();
    Ok(sqlx::query_as::<_, (String, String, i64)>(
        "SELECT t.uai, t.siret, t.position FROM rm_organismes_transmissions t
         JOIN unnest($1::text[], $2::text[]) AS k(uai, siret) USING (uai, siret)",
    )
    .bind(&uais)
    .bind(&sirets)
    .fetch_all(tx)
    .await?
    .into_iter()
    .map(|(uai, siret, position)| ((uai, siret), position))
    .collect())
}

/// Add first transmissions.
pub(super) async fn write_transmissions(
    tx: &mut PgConnection,
    transmissions: &[((String, String), i64)],
) -> Result<(), ProjectionError> {
    if transmissions.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO rm_organismes_transmissions (uai, siret, position)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])",
    )
    .bind(transmissions.iter().map(|((u, _), _)| u.as_str()).collect::<Vec<_>>())
    .bind(transmissions.iter().map(|((_, s), _)| s.as_str()).collect::<Vec<_>>())
    .bind(transmissions.iter().map(|(_, p)| *p).collect::<Vec<_>>())
    .execute(tx)
    .await?;
    Ok(())
}

/// The contract streams whose dossiers count now for these organismes (those a first transmission
/// takes out).
pub(super) async fn streams_of(
    tx: &mut PgConnection,
    organismes: &[(String, String)],
) -> Result<Vec<String>, ProjectionError> {
    if organismes.is_empty() {
        return Ok(Vec::new());
    }
    let (uais, sirets): (Vec<&str>, Vec<&str>) =
        organismes.iter().map(|(u, s)| (u.as_str(), s.as_str())).unzip();
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT d.dossier_id FROM rm_dossiers d
         JOIN unnest($1::text[], $2::text[]) AS k(uai, siret) ON (d.uai_formateur, d.siret_formateur) = (k.uai, k.siret)
         WHERE d.source = 'DECA'",
    )
    .bind(&uais)
    .bind(&sirets)
    .fetch_all(tx)
    .await?;
    let streams: BTreeSet<&str> = ids.iter().filter_map(|id| stream_of(id)).collect();
    Ok(streams.into_iter().map(str::to_owned).collect())
}

/// The contracts' states' organismes in these streams (to look their transmissions up).
pub(super) fn organismes_of(streams: &[(&str, Vec<&RecordedEvent>)]) -> Vec<(String, String)> {
    let mut organismes = BTreeSet::new();
    for (_, events) in streams {
        for event in events {
            if let Ok(DecaEvent::Enregistre(contrat)) = DecaEvent::decode(&event.event_type, &event.data) {
                organismes.insert(organisme(&contrat));
            }
        }
    }
    organismes.into_iter().collect()
}

#[cfg(test)]
mod tests;
