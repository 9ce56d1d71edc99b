//! The `france_travail` projection (domain.md §12): the adults enrolled at a CFA without a contract that
//! France Travail's advisors follow, one entry per person nationwide, by région of residence and by
//! sector (from the ROME codes of the formation in the formations referential). A batch (1) records the
//! advisors' situations, (2) refolds the dossiers it touches into what the queue needs of them, then
//! (3) recomputes the enrolments of every person concerned, stamped with the position of the last event
//! about the person (what the live subscription follows). A formation's event is applied at its place
//! in the log and gives the entries of that formation their sectors. What depends on the day (18 years
//! old, still enrolled, days since enrolment, the situations by then) is decided when queried (`query`).

pub mod episodes;
pub mod query;
mod write;

use events::RecordedEvent;
use events::dossier::Dossier;
use events::formation::FORMATION_ENREGISTREE;
use events::personal::Vault;
use sqlx::PgConnection;

use crate::fold::Touched;
use crate::runtime::{ProjectionError, Projector};
use crate::status::{Faits, RuleSet};
use episodes::DossierFt;

pub struct FranceTravailProjection {
    pub rules: RuleSet,
    /// Opens the personal data of the events it reads from the log itself.
    pub vault: Option<Vault>,
}

impl Default for FranceTravailProjection {
    fn default() -> Self {
        FranceTravailProjection { rules: RuleSet::CURRENT, vault: None }
    }
}

impl FranceTravailProjection {
    pub fn with_vault(mut self, vault: Option<Vault>) -> Self {
        self.vault = vault;
        self
    }
}

impl Projector for FranceTravailProjection {
    fn name(&self) -> &'static str {
        "france_travail"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "rm_ft_formations",
            "rm_ft_dossiers",
            "rm_ft_entrees",
            "rm_ft_actions",
            "rm_france_travail_quarantaine",
        ]
    }

    fn reads(&self, category: &str) -> bool {
        matches!(category, "dossier" | "formation" | "france_travail" | "personne")
    }

    fn quarantaine(&self) -> &'static str {
        "rm_france_travail_quarantaine"
    }

    /// Inactive enrolments are kept for the live subscription to see them go; which exist depends on
    /// the batches, so the checksum reads the active ones.
    fn checksum_rows(&self, table: &str, qualified: &str) -> String {
        let active = if table == "rm_ft_entrees" { "WHERE t.active " } else { "" };
        format!("SELECT t::text FROM {qualified} t {active}ORDER BY 1")
    }

    async fn apply(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut start = 0;
        for (i, event) in events.iter().enumerate() {
            if event.event_type == FORMATION_ENREGISTREE {
                self.apply_segment(tx, &events[start..i]).await?;
                write::write_formation(tx, event).await?;
                start = i + 1;
            }
        }
        self.apply_segment(tx, &events[start..]).await
    }
}

impl FranceTravailProjection {
    async fn apply_segment(
        &self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut personnes = write::write_actions(tx, events).await?;
        let also = write::erase(tx, events, &mut personnes).await?;
        let touched = Touched::of(tx, self.vault.as_ref(), events, "dossier", &also).await?;
        if !touched.is_empty() {
            let mut rows = Vec::new();
            for (stream, events) in touched.streams() {
                let last = events.last().map_or(0, |e| e.position);
                let dossier = Dossier::from_recorded(events.iter().copied())
                    .map_err(|e| ProjectionError::Event { position: last, message: e.to_string() })?;
                if let Some(row) = self.faits(stream, &dossier) {
                    rows.push((row, last));
                }
            }
            for (personne, position) in write::write_dossiers(tx, &rows).await? {
                let at = personnes.entry(personne).or_default();
                *at = (*at).max(position);
            }
        }
        if !personnes.is_empty() {
            write::write_entrees(tx, &personnes).await?;
        }
        Ok(())
    }

    /// What the queue needs of a dossier (none before its inscription is known), and whose it is.
    fn faits(&self, stream: &str, dossier: &Dossier) -> Option<(DossierFt, String)> {
        let i = dossier.inscription.as_ref()?;
        let parcours = Faits::of(dossier).map(|faits| self.rules.parcours(&faits)).unwrap_or_default();
        let c = &i.personnel.coordonnees;
        let faits = DossierFt {
            dossier_id: stream.to_owned(),
            parcours,
            naissance: i.personnel.date_de_naissance,
            code_commune_insee: c.code_commune_insee.as_ref().map(ToString::to_string),
            code_postal: c.code_postal.as_ref().map(ToString::to_string),
            cfd: i.formation.cfd.as_ref().map(ToString::to_string),
            rncp: i.formation.rncp.as_ref().map(ToString::to_string),
            retire: dossier.retrait.is_some(),
            formateur: (i.formateur.uai.to_string(), i.formateur.siret.to_string()),
            anciennes: dossier.personnes_anterieures.clone(),
        };
        Some((faits, i.personne.identite.clone()))
    }
}
