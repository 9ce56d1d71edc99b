//! What a dossier event may hold for a read model to hold it: every text within its family's length,
//! every date a day the read models hold, a session or a contract that does not end before it starts,
//! years and durations in their ranges. The edge refuses an event out of these bounds (naming the
//! field); a projection sets aside one already in the log (see `projections::admission`).

use chrono::NaiveDate;

use super::event::{Coordonnees, DossierEvent, Formation, Session};
use crate::envelope::RecordedEvent;
use crate::limits::{self, Bornes, HorsLimite, Texte};

impl DossierEvent {
    /// The event, if the read models can hold it: it decodes, and every value is within `bornes`.
    pub fn admissible(event: &RecordedEvent) -> Result<DossierEvent, String> {
        let decoded = DossierEvent::from_recorded(event).map_err(|e| e.to_string())?;
        decoded.bornes().map_err(|e| format!("{}: {e}", event.event_type))?;
        Ok(decoded)
    }

    /// The first value of the event out of bounds, with its path in the event's data.
    pub fn bornes(&self) -> Result<(), HorsLimite> {
        let mut b = Bornes::default();
        match self {
            DossierEvent::InscriptionEnregistree(i) => {
                b.texte("id_erp_apprenant", Some(&i.id_erp_apprenant), Texte::Identifiant)
                    .texte("personnel.nom", Some(&i.personnel.nom), Texte::Nom)
                    .texte("personnel.prenom", Some(&i.personnel.prenom), Texte::Nom)
                    .jour("personnel.date_de_naissance", Some(i.personnel.date_de_naissance))
                    .texte("apprenant.sexe", i.apprenant.sexe.as_deref(), Texte::Identifiant)
                    .jour("apprenant.date_rqth", i.apprenant.date_rqth);
                session(&mut b, "session", &i.session);
                formation(&mut b, "formation", &i.formation);
                coordonnees(&mut b, "personnel.coordonnees", &i.personnel.coordonnees);
            }
            DossierEvent::DatesSessionModifiees(s) => session(&mut b, "", s),
            DossierEvent::FormationModifiee(f) => formation(&mut b, "", f),
            DossierEvent::ContratSigne(c) | DossierEvent::ContratModifie(c) => {
                b.jour("date_debut", Some(c.date_debut)).jour("date_fin", c.date_fin).ordre(
                    "date_fin",
                    c.date_debut,
                    c.date_fin,
                );
            }
            DossierEvent::RuptureEnregistree(r) => {
                b.jour("date_debut_contrat", Some(r.date_debut_contrat))
                    .jour("date_rupture", Some(r.date_rupture))
                    .texte("cause", r.cause.as_deref(), Texte::Libelle);
            }
            DossierEvent::AbandonEnregistre(a) => {
                b.jour("date_exclusion", Some(a.date_exclusion)).texte(
                    "cause",
                    a.cause.as_deref(),
                    Texte::Libelle,
                );
            }
            DossierEvent::DiplomeObtenu(d) => {
                b.jour("date_obtention", d.date_obtention);
            }
            DossierEvent::CoordonneesModifiees(c) => coordonnees(&mut b, "", c),
            DossierEvent::IdentiteModifiee(i) => {
                b.texte("personnel.nom", Some(&i.personnel.nom), Texte::Nom)
                    .texte("personnel.prenom", Some(&i.personnel.prenom), Texte::Nom)
                    .jour("personnel.date_de_naissance", Some(i.personnel.date_de_naissance))
                    .texte("apprenant.sexe", i.apprenant.sexe.as_deref(), Texte::Identifiant)
                    .jour("apprenant.date_rqth", i.apprenant.date_rqth);
            }
            DossierEvent::DossierRetire(r) => {
                b.texte("commentaire", r.commentaire.as_deref(), Texte::Commentaire);
            }
            DossierEvent::CorrectionEnregistree(c) => {
                b.texte("raison", Some(&c.raison), Texte::Commentaire);
            }
        }
        b.finish()
    }
}

impl DossierEvent {
    /// The days of the dossier's life the event records (not the birth date), with their paths.
    fn jours_metier(&self) -> Vec<(String, NaiveDate)> {
        let session = |prefix: &str, s: &Session| {
            vec![
                (path(prefix, "date_inscription"), s.date_inscription),
                (path(prefix, "date_entree"), s.date_entree),
                (path(prefix, "date_fin"), s.date_fin),
            ]
        };
        let named = |pairs: &[(&str, Option<NaiveDate>)]| {
            pairs.iter().filter_map(|(p, d)| d.map(|d| ((*p).to_owned(), d))).collect::<Vec<_>>()
        };
        match self {
            DossierEvent::InscriptionEnregistree(i) => {
                let mut days = session("session", &i.session);
                days.extend(named(&[("apprenant.date_rqth", i.apprenant.date_rqth)]));
                days
            }
            DossierEvent::DatesSessionModifiees(s) => session("", s),
            DossierEvent::ContratSigne(c) | DossierEvent::ContratModifie(c) => {
                named(&[("date_debut", Some(c.date_debut)), ("date_fin", c.date_fin)])
            }
            DossierEvent::RuptureEnregistree(r) => named(&[
                ("date_debut_contrat", Some(r.date_debut_contrat)),
                ("date_rupture", Some(r.date_rupture)),
            ]),
            DossierEvent::AbandonEnregistre(a) => named(&[("date_exclusion", Some(a.date_exclusion))]),
            DossierEvent::DiplomeObtenu(d) => named(&[("date_obtention", d.date_obtention)]),
            DossierEvent::IdentiteModifiee(i) => named(&[("apprenant.date_rqth", i.apprenant.date_rqth)]),
            DossierEvent::FormationModifiee(_)
            | DossierEvent::CoordonneesModifiees(_)
            | DossierEvent::DossierRetire(_)
            | DossierEvent::CorrectionEnregistree(_) => Vec::new(),
        }
    }

    /// The edge's rules on `today`, beyond `bornes`: every day of the dossier's life from 1990 to ten
    /// years ahead, a learner aged 13 to 100 when the session starts.
    pub fn plausible(&self, today: NaiveDate) -> Result<(), HorsLimite> {
        let mut b = Bornes::default();
        for (path, day) in self.jours_metier() {
            b.note(&path, limits::jour_metier(day, today));
        }
        if let DossierEvent::InscriptionEnregistree(i) = self {
            b.note(
                "personnel.date_de_naissance",
                limits::naissance(i.personnel.date_de_naissance, i.session.date_entree),
            );
        }
        b.finish()
    }
}

fn path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() { field.to_owned() } else { format!("{prefix}.{field}") }
}

fn session(b: &mut Bornes, prefix: &str, s: &Session) {
    b.jour(&path(prefix, "date_inscription"), Some(s.date_inscription))
        .jour(&path(prefix, "date_entree"), Some(s.date_entree))
        .jour(&path(prefix, "date_fin"), Some(s.date_fin))
        .ordre(&path(prefix, "date_fin"), s.date_entree, Some(s.date_fin));
}

fn formation(b: &mut Bornes, prefix: &str, f: &Formation) {
    b.texte(&path(prefix, "libelle_court"), f.libelle_court.as_deref(), Texte::Libelle)
        .entier(&path(prefix, "annee_formation"), f.annee_formation, 0..=5)
        .entier(&path(prefix, "duree_theorique_mois"), f.duree_theorique_mois, 1..=48);
}

fn coordonnees(b: &mut Bornes, prefix: &str, c: &Coordonnees) {
    b.texte(&path(prefix, "adresse"), c.adresse.as_deref(), Texte::Adresse);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dossier::event::{Contrat, MotifRetrait, Retrait};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn a_contract_ending_before_it_starts_is_out_of_bounds() {
        let contrat =
            Contrat { date_debut: day(2025, 9, 1), date_fin: Some(day(2025, 8, 1)), siret_employeur: None };
        let refused = DossierEvent::ContratSigne(contrat).bornes().expect_err("end before start");
        assert_eq!(refused.path, "date_fin");
    }

    #[test]
    fn a_year_zero_or_a_huge_comment_names_its_field() {
        let session = Session {
            date_inscription: day(2025, 9, 1),
            date_entree: day(0, 1, 1),
            date_fin: day(2026, 6, 30),
        };
        assert_eq!(
            DossierEvent::DatesSessionModifiees(session).bornes().expect_err("year 0").path,
            "date_entree"
        );
        let retrait = Retrait { motif: MotifRetrait::Autre, commentaire: Some("x".repeat(5001)) };
        assert_eq!(DossierEvent::DossierRetire(retrait).bornes().expect_err("long").path, "commentaire");
    }

    #[test]
    fn the_edge_wants_plausible_days() {
        let today = day(2026, 12, 6);
        let contrat = Contrat { date_debut: day(1985, 9, 1), date_fin: None, siret_employeur: None };
        let refused = DossierEvent::ContratSigne(contrat).plausible(today).expect_err("1985");
        assert_eq!(refused.path, "date_debut");
        let session = Session {
            date_inscription: day(2025, 9, 1),
            date_entree: day(2025, 9, 1),
            date_fin: day(2040, 6, 30),
        };
        let refused = DossierEvent::DatesSessionModifiees(session).plausible(today).expect_err("2040");
        assert_eq!(refused.path, "date_fin");
    }
}
