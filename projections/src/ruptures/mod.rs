//! The `ruptures` projection: the queue of young people in rupture each Mission Locale calls
//! (domain.md §7), folded from the log like any read model — never a nightly copy of dossiers.
//!
//! A batch (1) records the follow-up actions (advisors' situations, CFAs' requests), (2) refolds the
//! dossiers it touches into what the queue needs of them (`rm_rupture_dossiers`), then (3) recomputes
//! the entry of every person concerned from all their dossiers and actions (`entree`), places it in the
//! Mission Locale of the residence, and stamps it with the position of the last event about the person
//! (what the live subscription follows). A Mission Locale's event is applied at its place in the log
//! and places again the entries its territory may move. The read model is the same whatever the
//! batches (a rebuild gives the live checksum).
//!
//! What depends on the day (visible or not, prioritaire, "nouveau contrat", the lists) is decided when
//! queried (`query`), from the dates the entry keeps.

pub mod collaboration;
pub mod deca;
pub mod entree;
mod episodes;
pub mod fil;
pub mod query;
pub mod recapitulatifs;
mod write;

use episodes::{replace, write_entrees};
use write::{
    erase, write_actions, write_activation, write_collaboration, write_dossiers, write_fil,
    write_mission_locale,
};

use events::RecordedEvent;
use events::collaboration::COLLABORATION_REGLEE;
use events::dossier::Dossier;
use events::envelope::Channel;
use events::mission_locale::{MISSION_LOCALE_ACTIVEE, MISSION_LOCALE_ENREGISTREE};
use events::personal::Vault;
use sqlx::PgConnection;

use crate::fold::Touched;
use crate::runtime::{ProjectionError, Projector};
use crate::status::{Faits, RuleSet};
use entree::DossierFaits;

pub struct RupturesProjection {
    pub rules: RuleSet,
    /// Opens the personal data of the events it reads from the log itself.
    pub vault: Option<Vault>,
}

impl Default for RupturesProjection {
    fn default() -> Self {
        RupturesProjection { rules: RuleSet::CURRENT, vault: None }
    }
}

impl RupturesProjection {
    pub fn with_vault(mut self, vault: Option<Vault>) -> Self {
        self.vault = vault;
        self
    }
}

impl Projector for RupturesProjection {
    fn name(&self) -> &'static str {
        "ruptures"
    }

    /// 3: DECA contracts are dossiers of their apprentices (domain.md §13).
    fn version(&self) -> i32 {
        3
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "rm_missions_locales",
            "rm_ml_communes",
            "rm_rupture_dossiers",
            "rm_ruptures",
            "rm_rupture_actions",
            "rm_rupture_messages",
            "rm_rupture_lus",
            "rm_collaborations",
            "rm_ml_activations",
            "rm_ruptures_quarantaine",
        ]
    }

    fn reads(&self, category: &str) -> bool {
        matches!(category, "dossier" | "rupture" | "mission_locale" | "personne" | "collaboration" | "deca")
    }

    fn quarantaine(&self) -> &'static str {
        "rm_ruptures_quarantaine"
    }

    /// The episodes no longer in the log's story (inactive) are kept for the live subscription to see
    /// them go; which ones exist depends on the batches the log was read in (an episode moved by a
    /// later event of the same batch never existed), so the checksum reads the active ones.
    fn checksum_rows(&self, table: &str, qualified: &str) -> String {
        let active = if table == "rm_ruptures" { "WHERE t.active " } else { "" };
        format!("SELECT t::text FROM {qualified} t {active}ORDER BY 1")
    }

    /// Missions Locales (their territories, their activation) and CFAs' collaboration settings are
    /// applied at their place in the log (the events before one are projected under the territories
    /// and settings before it), so that any batching gives the same read model.
    async fn apply(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut start = 0;
        for (i, event) in events.iter().enumerate() {
            if event.event_type == MISSION_LOCALE_ENREGISTREE {
                self.apply_segment(tx, &events[start..i]).await?;
                let territory = write_mission_locale(tx, event).await?;
                replace(tx, &territory, event.position).await?;
                start = i + 1;
            } else if event.event_type == COLLABORATION_REGLEE {
                self.apply_segment(tx, &events[start..i]).await?;
                write_collaboration(tx, event).await?;
                start = i + 1;
            } else if event.event_type == MISSION_LOCALE_ACTIVEE {
                self.apply_segment(tx, &events[start..i]).await?;
                write_activation(tx, event).await?;
                start = i + 1;
            }
        }
        self.apply_segment(tx, &events[start..]).await
    }
}

/// The rupture dates the CFA declared through its own command (`declarerRupture`), as opposed to the
/// ruptures its software transmitted.
fn declarees(events: &[&RecordedEvent]) -> Vec<chrono::NaiveDate> {
    events
        .iter()
        .filter(|e| e.event_type == "RuptureEnregistree" && e.metadata.channel == Channel::Graphql.as_str())
        .map(|e| e.occurred_at)
        .collect()
}

impl RupturesProjection {
    /// Apply events that hold no Mission Locale: the actions, the dossiers, then the entries of every
    /// person concerned, each stamped with the position of the last event about them.
    async fn apply_segment(
        &self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut personnes = write_actions(tx, events).await?;
        for (personne, position) in write_fil(tx, events).await? {
            let at = personnes.entry(personne).or_default();
            *at = (*at).max(position);
        }
        let also = erase(tx, events, &mut personnes).await?;
        let (also_deca, also): (Vec<String>, Vec<String>) =
            also.into_iter().partition(|id| id.starts_with("deca-"));
        let touched = Touched::of(tx, self.vault.as_ref(), events, "dossier", &also).await?;
        let contrats = Touched::of(tx, self.vault.as_ref(), events, "deca", &also_deca).await?;
        if !touched.is_empty() || !contrats.is_empty() {
            let mut rows = Vec::new();
            for (stream, events) in touched.streams() {
                let last = events.last().map_or(0, |e| e.position);
                let dossier = Dossier::from_recorded(events.iter().copied())
                    .map_err(|e| ProjectionError::Event { position: last, message: e.to_string() })?;
                if let Some(mut row) = self.faits(stream, &dossier) {
                    row.0.declarees = declarees(&events);
                    rows.push((row, last));
                }
            }
            for (stream, events) in contrats.streams() {
                let last = events.last().map_or(0, |e| e.position);
                if let Some(row) = self.faits_deca(stream, &events)? {
                    rows.push((row, last));
                }
            }
            for (personne, position) in write_dossiers(tx, &rows).await? {
                let at = personnes.entry(personne).or_default();
                *at = (*at).max(position);
            }
        }
        if !personnes.is_empty() {
            write_entrees(tx, &personnes).await?;
        }
        Ok(())
    }

    /// What the queue needs of a dossier (none before its inscription is known).
    fn faits(&self, stream: &str, dossier: &Dossier) -> Option<(DossierFaits, String)> {
        let i = dossier.inscription.as_ref()?;
        let parcours = Faits::of(dossier).map(|faits| self.rules.parcours(&faits)).unwrap_or_default();
        let c = &i.personnel.coordonnees;
        let faits = DossierFaits {
            dossier_id: stream.to_owned(),
            parcours,
            naissance: i.personnel.date_de_naissance,
            rqth: i.apprenant.rqth.unwrap_or(false),
            code_commune_insee: c.code_commune_insee.as_ref().map(ToString::to_string),
            code_postal: c.code_postal.as_ref().map(ToString::to_string),
            retire: dossier.retrait.is_some(),
            formateur: (i.formateur.uai.to_string(), i.formateur.siret.to_string()),
            responsable: (i.responsable.uai.to_string(), i.responsable.siret.to_string()),
            anciennes: dossier.personnes_anterieures.clone(),
            declarees: Vec::new(),
            deca: false,
        };
        Some((faits, i.personne.identite.clone()))
    }
}
