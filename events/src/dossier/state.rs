//! A dossier as its events make it: the pure fold the ingestion diff decides against.
//!
//! Corrections are applied by leaving the events they void out of the fold, so a corrected dossier is
//! exactly what it would have been had the voided event never been recorded, and the log keeps both.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use uuid::Uuid;

use super::event::{
    Abandon, Contrat, Coordonnees, DecodeError, Diplome, DossierEvent, Inscription, Retrait, Rupture,
};
use crate::envelope::RecordedEvent;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dossier {
    /// Organismes, formation, session and personal data, as last recorded.
    pub inscription: Option<Inscription>,
    /// Contracts by start day.
    pub contrats: BTreeMap<NaiveDate, ContratEtat>,
    pub abandon: Option<Abandon>,
    /// The event that recorded `abandon` (none when folded without event ids).
    pub abandon_event: Option<Uuid>,
    pub diplome: Option<Diplome>,
    pub retrait: Option<Retrait>,
    /// The person keys the dossier was about before its identity was corrected, oldest first (never
    /// its current one).
    pub personnes_anterieures: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContratEtat {
    pub contrat: Contrat,
    pub rupture: Option<Rupture>,
    /// The event that recorded `rupture` (none when folded without event ids).
    pub rupture_event: Option<Uuid>,
}

impl Dossier {
    /// Fold the events of one dossier stream, in log order, each with its event id.
    pub fn from_events(events: &[(Uuid, DossierEvent)]) -> Self {
        let voided: HashSet<Uuid> = events
            .iter()
            .filter_map(|(_, e)| match e {
                DossierEvent::CorrectionEnregistree(c) => Some(c.corrige),
                _ => None,
            })
            .collect();
        let mut dossier = Dossier::default();
        for (id, event) in events {
            if !voided.contains(id) {
                dossier.record(*id, event);
            }
        }
        dossier
    }

    /// One more event on top of the fold, remembering its id where a later correction may name it.
    pub fn record(&mut self, id: Uuid, event: &DossierEvent) {
        self.apply(event);
        match event {
            DossierEvent::RuptureEnregistree(r) => {
                if let Some(etat) = self.contrats.get_mut(&r.date_debut_contrat) {
                    etat.rupture_event = Some(id);
                }
            }
            DossierEvent::AbandonEnregistre(_) => self.abandon_event = Some(id),
            _ => {}
        }
    }

    /// Fold a stream as every reader of the log folds it: the events no read model can hold (that do
    /// not decode, or hold a value out of `bornes`) are left out, as if they were not in the log. The
    /// projections set those aside in their quarantine (`projections::admission`).
    pub fn from_log<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Self {
        let decoded: Vec<(Uuid, DossierEvent)> = events
            .into_iter()
            .filter_map(|e| Some((e.event_id, DossierEvent::admissible(e).ok()?)))
            .collect();
        Self::from_events(&decoded)
    }

    /// Fold a stream as the store returns it, reading each event at its schema version.
    pub fn from_recorded<'a>(
        events: impl IntoIterator<Item = &'a RecordedEvent>,
    ) -> Result<Self, DecodeError> {
        let decoded = events
            .into_iter()
            .map(|e| Ok((e.event_id, DossierEvent::from_recorded(e)?)))
            .collect::<Result<Vec<_>, DecodeError>>()?;
        Ok(Self::from_events(&decoded))
    }

    /// One more event on top of the fold, without its id (never a correction: those are only honoured
    /// by a full fold).
    pub fn apply(&mut self, event: &DossierEvent) {
        match event {
            DossierEvent::InscriptionEnregistree(inscription) => {
                self.inscription = Some((**inscription).clone())
            }
            DossierEvent::DatesSessionModifiees(session) => {
                if let Some(i) = &mut self.inscription {
                    i.session = *session;
                }
            }
            DossierEvent::FormationModifiee(formation) => {
                if let Some(i) = &mut self.inscription {
                    i.formation = formation.clone();
                }
            }
            DossierEvent::ContratSigne(contrat) | DossierEvent::ContratModifie(contrat) => {
                self.contrats
                    .entry(contrat.date_debut)
                    .and_modify(|etat| etat.contrat = contrat.clone())
                    .or_insert_with(|| ContratEtat {
                        contrat: contrat.clone(),
                        rupture: None,
                        rupture_event: None,
                    });
            }
            DossierEvent::RuptureEnregistree(rupture) => {
                let etat = self.contrats.entry(rupture.date_debut_contrat).or_insert_with(|| ContratEtat {
                    contrat: Contrat {
                        date_debut: rupture.date_debut_contrat,
                        date_fin: None,
                        siret_employeur: None,
                    },
                    rupture: None,
                    rupture_event: None,
                });
                etat.rupture = Some(rupture.clone());
                etat.rupture_event = None;
            }
            DossierEvent::AbandonEnregistre(abandon) => {
                self.abandon = Some(abandon.clone());
                self.abandon_event = None;
            }
            DossierEvent::DiplomeObtenu(diplome) => self.diplome = Some(diplome.clone()),
            DossierEvent::CoordonneesModifiees(changes) => {
                if let Some(i) = &mut self.inscription {
                    merge(&mut i.personnel.coordonnees, changes);
                }
            }
            DossierEvent::IdentiteModifiee(identite) => {
                let Some(i) = &mut self.inscription else { return };
                if i.personne.identite != identite.personne.identite
                    && !self.personnes_anterieures.contains(&i.personne.identite)
                {
                    self.personnes_anterieures.push(i.personne.identite.clone());
                }
                self.personnes_anterieures.retain(|p| *p != identite.personne.identite);
                i.personne = identite.personne.clone();
                let p = &identite.personnel;
                i.personnel.nom.clone_from(&p.nom);
                i.personnel.prenom.clone_from(&p.prenom);
                i.personnel.date_de_naissance = p.date_de_naissance;
                i.personnel.ine.clone_from(&p.ine);
                i.personnel.efface |= p.efface;
                i.apprenant = identite.apprenant.clone();
            }
            DossierEvent::DossierRetire(retrait) => self.retrait = Some(retrait.clone()),
            DossierEvent::CorrectionEnregistree(_) => {}
        }
    }
}

/// A new value wins; an absent one erases nothing.
fn merge(current: &mut Coordonnees, changes: &Coordonnees) {
    fn take<T: Clone>(current: &mut Option<T>, new: &Option<T>) {
        if new.is_some() {
            current.clone_from(new);
        }
    }
    take(&mut current.email, &changes.email);
    take(&mut current.telephone, &changes.telephone);
    take(&mut current.adresse, &changes.adresse);
    take(&mut current.code_postal, &changes.code_postal);
    take(&mut current.code_commune_insee, &changes.code_commune_insee);
    if !changes.responsables_mails.is_empty() {
        current.responsables_mails.clone_from(&changes.responsables_mails);
    }
}
