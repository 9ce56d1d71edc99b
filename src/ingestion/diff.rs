//! From snapshots to facts (domain.md §4): compare what an ERP sends with what the log already says of
//! the dossier, and decide the events that record only the differences. A new non-empty value wins; an
//! absent one erases nothing; re-sending an unchanged dossier decides nothing. Pure: no I/O.
//!
//! - The identity (names, birth date, INE, sexe, RQTH, NIR sent) is compared like the rest: a change is
//!   an `IdentiteModifiee` holding the whole identity as now known, and the person key derived from
//!   it. When that key changes, the dossier is the new person's from then on (see `Dossier::apply`).
//!   An erased person's identity is never recorded again (it would not be kept anyway).
//! - A rupture or an exclusion already recorded that the ERP now sends otherwise (another date, a
//!   cause) is a correction: a `CorrectionEnregistree` voiding the earlier event, naming the channel
//!   and the transmission, then the event as now sent. The figures are those of the latest, as before;
//!   the log says which event it replaces.

use events::dossier::event::{
    Abandon, Apprenant, Contrat, Coordonnees, Correction, Diplome, Formation, Identite, Inscription,
    Personnel, Rupture, Session,
};
use events::dossier::{Dossier, DossierEvent, PersonKey};

use super::v3::{self, DossierV3};

/// The events that bring `current` (the dossier as the log knows it) up to `snapshot`; `origine` says
/// where the snapshot comes from (channel and transmission), for the corrections it makes.
pub fn decide(current: &Dossier, snapshot: &DossierV3, origine: &str) -> Vec<DossierEvent> {
    let mut events = Vec::new();
    match &current.inscription {
        None => events.push(DossierEvent::InscriptionEnregistree(Box::new(inscription(snapshot)))),
        Some(known) => {
            // First, so that the events after it are sealed with the person's new key.
            if let Some(identite) = changed_identite(known, snapshot) {
                events.push(DossierEvent::IdentiteModifiee(Box::new(identite)));
            }
            let session = session(snapshot);
            if known.session != session {
                events.push(DossierEvent::DatesSessionModifiees(session));
            }
            let formation = merged_formation(&known.formation, &formation(snapshot));
            if known.formation != formation {
                events.push(DossierEvent::FormationModifiee(formation));
            }
            // An erased person's contacts are never recorded again (they would not be stored anyway).
            let changes = changed_coordonnees(&known.personnel.coordonnees, &coordonnees(snapshot));
            if !known.personnel.efface && changes != Coordonnees::default() {
                events.push(DossierEvent::CoordonneesModifiees(changes));
            }
        }
    }
    for sent in &snapshot.contrats {
        let known = current.contrats.get(&sent.date_debut);
        let contrat = Contrat {
            date_debut: sent.date_debut,
            date_fin: sent.date_fin.or_else(|| known.and_then(|k| k.contrat.date_fin)),
            siret_employeur: sent
                .siret_employeur
                .clone()
                .or_else(|| known.and_then(|k| k.contrat.siret_employeur.clone())),
        };
        match known {
            None => events.push(DossierEvent::ContratSigne(contrat)),
            Some(k) if k.contrat != contrat => events.push(DossierEvent::ContratModifie(contrat)),
            Some(_) => {}
        }
        if let Some(date_rupture) = sent.date_rupture {
            let known_rupture = known.and_then(|k| k.rupture.as_ref());
            let cause = sent.cause_rupture.clone().or_else(|| known_rupture.and_then(|r| r.cause.clone()));
            let rupture = Rupture { date_debut_contrat: sent.date_debut, date_rupture, cause };
            if known_rupture != Some(&rupture) {
                if let (Some(before), Some(id)) = (known_rupture, known.and_then(|k| k.rupture_event)) {
                    let what = format!("rupture du contrat commencé le {}", sent.date_debut);
                    let raison = raison(
                        &what,
                        (before.date_rupture, &before.cause),
                        (date_rupture, &rupture.cause),
                        origine,
                    );
                    events.push(DossierEvent::CorrectionEnregistree(Correction { corrige: id, raison }));
                }
                events.push(DossierEvent::RuptureEnregistree(rupture));
            }
        }
    }
    if let Some(date_exclusion) = snapshot.formation.date_exclusion {
        let cause = snapshot
            .formation
            .cause_exclusion
            .clone()
            .or_else(|| current.abandon.as_ref().and_then(|a| a.cause.clone()));
        let abandon = Abandon { date_exclusion, cause };
        if current.abandon.as_ref() != Some(&abandon) {
            if let (Some(before), Some(id)) = (&current.abandon, current.abandon_event) {
                let raison = raison(
                    "exclusion",
                    (before.date_exclusion, &before.cause),
                    (date_exclusion, &abandon.cause),
                    origine,
                );
                events.push(DossierEvent::CorrectionEnregistree(Correction { corrige: id, raison }));
            }
            events.push(DossierEvent::AbandonEnregistre(abandon));
        }
    }
    if snapshot.formation.obtention_diplome == Some(true) && current.diplome.is_none() {
        events.push(DossierEvent::DiplomeObtenu(Diplome {
            date_obtention: snapshot.formation.date_obtention_diplome,
        }));
    }
    events
}

/// Why an event is corrected: what changed, from what to what, sent by whom.
fn raison(
    what: &str,
    before: (chrono::NaiveDate, &Option<String>),
    after: (chrono::NaiveDate, &Option<String>),
    origine: &str,
) -> String {
    let cause = |c: &Option<String>| c.as_deref().map(|c| format!(", cause « {c} »")).unwrap_or_default();
    format!(
        "{what} transmise autrement : le {}{} devient le {}{} ({origine})",
        before.0,
        cause(before.1),
        after.0,
        cause(after.1)
    )
}

/// The identity as now known, when it differs from the one recorded (never once erased).
fn changed_identite(known: &Inscription, s: &DossierV3) -> Option<Identite> {
    if known.personnel.efface {
        return None;
    }
    let a = &s.apprenant;
    let mut personnel = known.personnel.identite();
    personnel.nom.clone_from(&a.nom);
    personnel.prenom.clone_from(&a.prenom);
    personnel.date_de_naissance = a.date_de_naissance;
    if a.ine.is_some() {
        personnel.ine.clone_from(&a.ine);
    }
    let sent = apprenant(s);
    let apprenant = Apprenant {
        sexe: sent.sexe.or_else(|| known.apprenant.sexe.clone()),
        rqth: sent.rqth.or(known.apprenant.rqth),
        date_rqth: sent.date_rqth.or(known.apprenant.date_rqth),
        has_nir: sent.has_nir || known.apprenant.has_nir,
    };
    if personnel == known.personnel.identite() && apprenant == known.apprenant {
        return None;
    }
    let personne =
        PersonKey::new(&personnel.nom, &personnel.prenom, personnel.date_de_naissance, personnel.ine.clone());
    Some(Identite { personne, personnel, apprenant })
}

fn apprenant(s: &DossierV3) -> Apprenant {
    let a = &s.apprenant;
    Apprenant {
        sexe: a.sexe.map(|sexe| match sexe {
            v3::Sexe::M => "M".to_owned(),
            v3::Sexe::F => "F".to_owned(),
        }),
        rqth: a.rqth,
        date_rqth: a.date_rqth,
        has_nir: a.has_nir,
    }
}

fn inscription(s: &DossierV3) -> Inscription {
    let a = &s.apprenant;
    Inscription {
        formateur: s.formateur.clone(),
        responsable: s.responsable.clone(),
        annee_scolaire: s.key.annee_scolaire.clone(),
        id_erp_apprenant: s.key.id_erp_apprenant.clone(),
        personne: PersonKey::new(&a.nom, &a.prenom, a.date_de_naissance, a.ine.clone()),
        formation: formation(s),
        session: session(s),
        apprenant: apprenant(s),
        personnel: Personnel {
            efface: false,
            nom: a.nom.clone(),
            prenom: a.prenom.clone(),
            date_de_naissance: a.date_de_naissance,
            ine: a.ine.clone(),
            coordonnees: coordonnees(s),
        },
    }
}

fn session(s: &DossierV3) -> Session {
    Session {
        date_inscription: s.formation.date_inscription,
        date_entree: s.formation.date_entree,
        date_fin: s.formation.date_fin,
    }
}

fn formation(s: &DossierV3) -> Formation {
    let f = &s.formation;
    Formation {
        cfd: f.cfd.clone(),
        rncp: f.rncp.clone(),
        libelle_court: f.libelle_court.clone(),
        annee_formation: f.annee_formation,
        duree_theorique_mois: f.duree_theorique_mois,
        presentielle: f.presentielle,
    }
}

fn coordonnees(s: &DossierV3) -> Coordonnees {
    let a = &s.apprenant;
    Coordonnees {
        email: a.email.clone(),
        telephone: a.telephone.clone(),
        adresse: a.adresse.clone(),
        code_postal: a.code_postal.clone(),
        code_commune_insee: a.code_commune_insee.clone(),
        responsables_mails: a.responsables_mails.clone(),
    }
}

fn merged_formation(known: &Formation, sent: &Formation) -> Formation {
    Formation {
        cfd: sent.cfd.clone().or_else(|| known.cfd.clone()),
        rncp: sent.rncp.clone().or_else(|| known.rncp.clone()),
        libelle_court: sent.libelle_court.clone().or_else(|| known.libelle_court.clone()),
        annee_formation: sent.annee_formation.or(known.annee_formation),
        duree_theorique_mois: sent.duree_theorique_mois.or(known.duree_theorique_mois),
        presentielle: sent.presentielle.or(known.presentielle),
    }
}

/// Only the fields sent with a value other than the known one.
fn changed_coordonnees(known: &Coordonnees, sent: &Coordonnees) -> Coordonnees {
    fn changed<T: Clone + PartialEq>(known: &Option<T>, sent: &Option<T>) -> Option<T> {
        sent.clone().filter(|value| known.as_ref() != Some(value))
    }
    Coordonnees {
        email: changed(&known.email, &sent.email),
        telephone: changed(&known.telephone, &sent.telephone),
        adresse: changed(&known.adresse, &sent.adresse),
        code_postal: changed(&known.code_postal, &sent.code_postal),
        code_commune_insee: changed(&known.code_commune_insee, &sent.code_commune_insee),
        responsables_mails: if !sent.responsables_mails.is_empty()
            && sent.responsables_mails != known.responsables_mails
        {
            sent.responsables_mails.clone()
        } else {
            Vec::new()
        },
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
