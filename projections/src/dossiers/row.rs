//! A dossier folded into its `rm_dossiers` row: its dimensions, its parcours under the rule set, and
//! its counts, after each of its events.

use std::collections::HashMap;
use std::sync::Arc;

use events::RecordedEvent;
use events::dossier::{Dossier, DossierEvent};

use crate::indicateurs::{Comptage, Dimensions, Source};
use crate::runtime::ProjectionError;
use crate::status::Faits;

use super::identite::Identite;
use super::{DossiersProjection, niveau};

/// A row of `rm_dossiers`.
pub(super) struct Row {
    pub(super) dossier_id: String,
    pub(super) id_erp_apprenant: String,
    pub(super) uai_responsable: String,
    pub(super) siret_responsable: String,
    pub(super) cfd: Option<String>,
    pub(super) rncp: Option<String>,
    pub(super) code_commune_insee: Option<String>,
    pub(super) personne: String,
    pub(super) rqth: bool,
    pub(super) retire: bool,
    /// The formation's name as the dossier carries it (`libelle_court_formation`).
    pub(super) libelle_formation: Option<String>,
    /// The learner's identity and contacts (none once erased), sealed into the row when it is written.
    pub(super) identite: Option<Identite>,
    /// Its counts: its dimensions (organisme formateur, territory, formation key, niveau…), birth date
    /// and parcours.
    pub(super) comptage: Comptage,
    pub(super) position: i64,
}

/// A dossier's row after each of its events (none before its inscription), by event position.
pub(super) type Steps = Vec<(i64, Option<Row>)>;

/// Where each organisme formateur is, as the read model knows it.
pub(super) type Territoires = HashMap<(String, String), (Arc<str>, Arc<str>, Arc<str>)>;

impl Row {
    /// Fill in the territory of the dossier's organisme formateur.
    pub(super) fn locate(&mut self, territoires: &Territoires) {
        let dims = &mut self.comptage.dims;
        if let Some((departement, region, academie)) =
            territoires.get(&(dims.uai.to_string(), dims.siret.to_string())).cloned()
        {
            (dims.departement, dims.region, dims.academie) = (departement, region, academie);
        }
    }
}

impl DossiersProjection {
    /// The dossier's row after each of its events from position `first` on (a stream folded again
    /// without events of its own in the batch, its person erased, makes one step at `last`).
    pub(super) fn steps(
        &self,
        stream: &str,
        events: &[&RecordedEvent],
        first: i64,
        last: i64,
    ) -> Result<Steps, ProjectionError> {
        // Each event is decoded once; the dossier after each is folded from the decoded prefix.
        let decoded = decode(events)?;
        let mut steps = Vec::new();
        let mut source = Source::Erp;
        for (i, event) in events.iter().enumerate() {
            source = Source::of_channel(&event.metadata.channel).unwrap_or(source);
            if event.position >= first {
                let now = i + 1 == events.len();
                steps.push((event.position, self.row(stream, &decoded[..=i], (event.position, source), now)));
            }
        }
        if steps.is_empty() {
            let last_position = events.last().map_or(0, |e| e.position);
            steps.push((last, self.row(stream, &decoded, (last_position, source), true)));
        }
        Ok(steps)
    }

    /// What a dossier folded from these events counts for (its territory not filled in); none before
    /// its inscription.
    pub fn comptage(
        &self,
        stream: &str,
        events: &[&RecordedEvent],
    ) -> Result<Option<Comptage>, ProjectionError> {
        let last = events.last().map_or(0, |e| e.position);
        let source = events.iter().rev().find_map(|e| Source::of_channel(&e.metadata.channel));
        Ok(self
            .row(stream, &decode(events)?, (last, source.unwrap_or(Source::Erp)), false)
            .map(|row| row.comptage))
    }

    /// The row of a dossier folded from its decoded events up to position `last`, transmitted last by
    /// `source`, its territory not yet filled in.
    pub(super) fn row(
        &self,
        stream: &str,
        decoded: &[(uuid::Uuid, DossierEvent)],
        (last, source): (i64, Source),
        with_identite: bool,
    ) -> Option<Row> {
        let dossier = Dossier::from_events(decoded);
        let i = dossier.inscription.as_ref()?;
        let parcours = Faits::of(&dossier).map(|faits| self.rules.parcours(&faits)).unwrap_or_default();
        let cfd = i.formation.cfd.as_ref().map(ToString::to_string);
        let rncp = i.formation.rncp.as_ref().map(ToString::to_string);
        let dims = Dimensions {
            uai: i.formateur.uai.as_str().into(),
            siret: i.formateur.siret.as_str().into(),
            formation: cfd.as_deref().or(rncp.as_deref()).unwrap_or_default().into(),
            niveau: cfd.as_deref().and_then(niveau).unwrap_or(0),
            annee_formation: Dimensions::annee_formation_de(
                i.formation.annee_formation.and_then(|a| i16::try_from(a).ok()),
            ),
            source: source.as_str().into(),
            ..Dimensions::default()
        };
        Some(Row {
            dossier_id: stream.to_owned(),
            id_erp_apprenant: i.id_erp_apprenant.clone(),
            uai_responsable: i.responsable.uai.to_string(),
            siret_responsable: i.responsable.siret.to_string(),
            cfd,
            rncp,
            code_commune_insee: i.personnel.coordonnees.code_commune_insee.as_ref().map(ToString::to_string),
            personne: i.personne.identite.clone(),
            rqth: i.apprenant.rqth.unwrap_or(false),
            retire: dossier.retrait.is_some(),
            libelle_formation: i
                .formation
                .libelle_court
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
            identite: if with_identite { Identite::of_personnel(&i.personnel) } else { None },
            comptage: Comptage {
                annee_scolaire: i.annee_scolaire.clone(),
                naissance: i.personnel.date_de_naissance,
                parcours,
                dims,
            },
            position: last,
        })
    }
}

/// The events of one dossier stream, decoded (the projection reads only admitted ones).
pub(super) fn decode(events: &[&RecordedEvent]) -> Result<Vec<(uuid::Uuid, DossierEvent)>, ProjectionError> {
    events
        .iter()
        .map(|e| {
            DossierEvent::from_recorded(e)
                .map(|decoded| (e.event_id, decoded))
                .map_err(|error| ProjectionError::Event { position: e.position, message: error.to_string() })
        })
        .collect()
}
