//! Whether a person has an entry in the rupture queue, and which (domain.md §7): a pure function of
//! the parcours of all their dossiers, so that one person has one entry nationwide however many
//! dossiers, organismes and years they have.

use chrono::{Datelike, NaiveDate};

use crate::status::{ChangePoint, Statut};

/// What the queue knows of one dossier of the person.
#[derive(Debug, Clone, PartialEq)]
pub struct DossierFaits {
    pub dossier_id: String,
    pub parcours: Vec<ChangePoint>,
    pub naissance: NaiveDate,
    pub rqth: bool,
    pub code_commune_insee: Option<String>,
    pub code_postal: Option<String>,
    pub retire: bool,
    pub formateur: (String, String),
    pub responsable: (String, String),
    /// The person keys the dossier had before an identity correction: what was recorded under them
    /// in the queue is the person's.
    pub anciennes: Vec<String>,
    /// The rupture dates the CFA declared itself (`declarerRupture`), not its software.
    pub declarees: Vec<NaiveDate>,
    /// A contract of the national base (DECA, domain.md §13), not a dossier an organisme sent.
    pub deca: bool,
}

/// Why an entry left the visible queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sortie {
    NouveauContrat,
    FinDeFormation,
}

impl Sortie {
    pub fn as_str(self) -> &'static str {
        match self {
            Sortie::NouveauContrat => "NOUVEAU_CONTRAT",
            Sortie::FinDeFormation => "FIN_DE_FORMATION",
        }
    }
}

/// A person's entry, before it is placed in a Mission Locale and its actions are read.
#[derive(Debug, Clone, PartialEq)]
pub struct Entree {
    /// The dossier of the rupture.
    pub dossier_id: String,
    /// The first RUPTURANT day of the person's latest rupture.
    pub date_rupture: NaiveDate,
    /// The first day of the contract that rupture ended: actions recorded before it were about an
    /// earlier rupture.
    pub contrat_debut: NaiveDate,
    /// The day the person left the queue, and why.
    pub sortie: Option<(NaiveDate, Sortie)>,
    pub naissance: NaiveDate,
    pub rqth: bool,
    pub code_commune_insee: Option<String>,
    pub code_postal: Option<String>,
    pub formateur: (String, String),
    pub responsable: (String, String),
    /// The CFA declared this rupture itself (a rupture dated within the contract it ended): its own
    /// list keeps it after the person left.
    pub declaree: bool,
}

/// Age in whole years on `day`.
pub fn age(naissance: NaiveDate, day: NaiveDate) -> i32 {
    let mut years = day.year() - naissance.year();
    if (day.month(), day.day()) < (naissance.month(), naissance.day()) {
        years -= 1;
    }
    years
}

/// The status of a parcours on `day` (none before its first point).
fn statut_on(parcours: &[ChangePoint], day: NaiveDate) -> Option<Statut> {
    parcours.iter().take_while(|p| p.date <= day).last().map(|p| p.statut)
}

/// The episodes of the person whose dossiers these are, oldest first: one per RUPTURANT change point
/// of their dossiers not withdrawn (a day two dossiers share counts once, for the first by id), when
/// they were 16 to 25 years old that day (any age with RQTH). An episode ends on the first later day
/// the person is APPRENTI in any dossier (back under contract) or its dossier reaches
/// FIN_DE_FORMATION. Which one is the person's entry depends on the day asked (the latest begun by
/// then), so future ruptures (a contract planned to end before the formation) wait for their day.
/// Every episode is placed by the person's residence as their latest dossier gives it.
pub fn episodes(dossiers: &[DossierFaits]) -> Vec<Entree> {
    // A person with a dossier an organisme sent is followed from those only: DECA fills in for none.
    let transmis = dossiers.iter().any(|d| !d.deca);
    let dossiers: Vec<&DossierFaits> =
        dossiers.iter().filter(|d| !d.retire && (!transmis || !d.deca)).collect();
    let rqth = dossiers.iter().any(|d| d.rqth);
    let residence = dossiers.iter().rev().find(|d| d.code_commune_insee.is_some() || d.code_postal.is_some());
    let mut ruptures: Vec<(NaiveDate, &DossierFaits, usize)> = dossiers
        .iter()
        .flat_map(|d| {
            d.parcours
                .iter()
                .enumerate()
                .filter(|(_, p)| p.statut == Statut::Rupturant)
                .map(move |(k, p)| (p.date, *d, k))
        })
        .collect();
    ruptures.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.dossier_id.cmp(&b.1.dossier_id)));
    ruptures.dedup_by_key(|r| r.0);
    ruptures
        .into_iter()
        .filter(|(date, d, _)| rqth || (16..=25).contains(&age(d.naissance, *date)))
        .map(|(date_rupture, rupture, index)| {
            let contrat_debut = rupture.parcours[..index]
                .iter()
                .rev()
                .find(|p| p.statut == Statut::Apprenti)
                .map_or(date_rupture, |p| p.date);
            // Under contract elsewhere on the day of the rupture: the person never left work.
            let elsewhere = dossiers.iter().any(|d| {
                d.dossier_id != rupture.dossier_id
                    && statut_on(&d.parcours, date_rupture) == Some(Statut::Apprenti)
            });
            let sortie = if elsewhere {
                Some((date_rupture, Sortie::NouveauContrat))
            } else {
                dossiers
                    .iter()
                    .flat_map(|d| {
                        let own = d.dossier_id == rupture.dossier_id;
                        d.parcours.iter().filter(move |p| p.date > date_rupture).filter_map(move |p| match p
                            .statut
                        {
                            Statut::Apprenti => Some((p.date, Sortie::NouveauContrat)),
                            Statut::FinDeFormation if own => Some((p.date, Sortie::FinDeFormation)),
                            _ => None,
                        })
                    })
                    .min_by_key(|(date, _)| *date)
            };
            Entree {
                dossier_id: rupture.dossier_id.clone(),
                date_rupture,
                contrat_debut,
                sortie,
                naissance: rupture.naissance,
                rqth,
                code_commune_insee: residence.and_then(|r| r.code_commune_insee.clone()),
                code_postal: residence.and_then(|r| r.code_postal.clone()),
                formateur: rupture.formateur.clone(),
                responsable: rupture.responsable.clone(),
                declaree: rupture.declarees.iter().any(|d| (contrat_debut..=date_rupture).contains(d)),
            }
        })
        .collect()
}

/// The person's entry on `day`: their latest episode begun by then.
pub fn entree(dossiers: &[DossierFaits], day: NaiveDate) -> Option<Entree> {
    episodes(dossiers).into_iter().rfind(|e| e.date_rupture <= day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    fn far() -> NaiveDate {
        day("2099-01-01")
    }

    fn dossier(id: &str, points: &[(&str, Statut)]) -> DossierFaits {
        DossierFaits {
            anciennes: Vec::new(),
            declarees: Vec::new(),
            deca: false,
            dossier_id: id.into(),
            parcours: points.iter().map(|(d, s)| ChangePoint { date: day(d), statut: *s }).collect(),
            naissance: day("2006-05-10"),
            rqth: false,
            code_commune_insee: Some("69123".into()),
            code_postal: None,
            retire: false,
            formateur: ("0691234A".into(), "12345678901234".into()),
            responsable: ("0691234A".into(), "12345678901234".into()),
        }
    }

    use Statut::*;

    #[test]
    fn a_rupture_enters_the_queue_and_a_new_contract_takes_it_out() {
        let d =
            dossier("a", &[("2025-09-01", Apprenti), ("2025-12-01", Rupturant), ("2026-02-01", Apprenti)]);
        let e = entree(&[d], far()).expect("eligible");
        assert_eq!((e.date_rupture, e.contrat_debut), (day("2025-12-01"), day("2025-09-01")));
        assert_eq!(e.sortie, Some((day("2026-02-01"), Sortie::NouveauContrat)));
    }

    #[test]
    fn a_second_rupture_is_the_entry_and_its_contract_starts_a_new_episode() {
        let d = dossier(
            "a",
            &[
                ("2025-09-01", Apprenti),
                ("2025-12-01", Rupturant),
                ("2026-02-01", Apprenti),
                ("2026-04-01", Rupturant),
            ],
        );
        let e = entree(std::slice::from_ref(&d), far()).expect("eligible");
        assert_eq!((e.date_rupture, e.contrat_debut, e.sortie), (day("2026-04-01"), day("2026-02-01"), None));
        // Before the second rupture, the entry is the first one, ended by the new contract.
        let first = entree(std::slice::from_ref(&d), day("2026-03-31")).expect("eligible");
        assert_eq!(first.sortie, Some((day("2026-02-01"), Sortie::NouveauContrat)));
        assert_eq!(episodes(&[d]).len(), 2);
    }

    #[test]
    fn one_entry_per_person_and_day_across_dossiers_and_a_contract_elsewhere_ends_it() {
        let old = dossier("a", &[("2025-09-01", Apprenti), ("2026-01-10", Rupturant)]);
        let new = dossier("b", &[("2026-03-01", Inscrit), ("2026-03-15", Apprenti)]);
        let e = entree(&[old.clone(), new.clone()], far()).expect("eligible");
        assert_eq!(e.dossier_id, "a");
        assert_eq!(e.sortie, Some((day("2026-03-15"), Sortie::NouveauContrat)));
        // Under contract elsewhere on the day of the rupture: out at once.
        let busy = dossier("c", &[("2025-10-01", Apprenti)]);
        assert_eq!(
            entree(&[old.clone(), busy], far()).expect("eligible").sortie.map(|s| s.0),
            Some(day("2026-01-10"))
        );
        // A withdrawn dossier counts for nothing.
        assert_eq!(entree(&[DossierFaits { retire: true, ..old }, new], far()), None);
    }

    #[test]
    fn a_rupture_the_cfa_declared_within_the_contract_is_declared() {
        let mut d = dossier(
            "a",
            &[
                ("2025-09-01", Apprenti),
                ("2026-01-10", Rupturant),
                ("2026-02-01", Apprenti),
                ("2026-04-01", Rupturant),
            ],
        );
        d.declarees = vec![day("2026-03-31")];
        let episodes = episodes(&[d]);
        assert_eq!(episodes.iter().map(|e| e.declaree).collect::<Vec<_>>(), [false, true]);
    }

    #[test]
    fn the_end_of_the_formation_takes_the_entry_out() {
        let d = dossier(
            "a",
            &[("2025-09-01", Apprenti), ("2026-05-01", Rupturant), ("2026-06-30", FinDeFormation)],
        );
        assert_eq!(
            entree(&[d], far()).expect("eligible").sortie,
            Some((day("2026-06-30"), Sortie::FinDeFormation))
        );
    }

    #[test]
    fn only_16_to_25_year_olds_unless_rqth_and_never_without_a_rupture() {
        let at = |naissance: &str, rqth: bool| {
            let d = DossierFaits {
                naissance: day(naissance),
                rqth,
                ..dossier("a", &[("2025-09-01", Apprenti), ("2026-01-10", Rupturant)])
            };
            entree(&[d], far()).is_some()
        };
        assert!(at("2010-01-10", false), "16 on the day");
        assert!(!at("2010-01-11", false), "still 15");
        assert!(at("2000-01-11", false), "25 until the eve of 26");
        assert!(!at("2000-01-10", false), "26 on the day");
        assert!(at("1990-01-01", true), "any age with RQTH");
        assert_eq!(
            entree(&[dossier("a", &[("2025-09-01", Apprenti), ("2026-06-30", FinDeFormation)])], far()),
            None
        );
        assert_eq!(age(day("2006-05-10"), day("2024-05-09")), 17);
        assert_eq!(age(day("2006-05-10"), day("2024-05-10")), 18);
    }

    #[test]
    fn a_deca_contract_fills_in_only_for_a_person_no_organisme_sent_a_dossier_of() {
        let deca = DossierFaits {
            deca: true,
            ..dossier("deca-C-1", &[("2025-09-01", Apprenti), ("2026-01-10", Rupturant)])
        };
        let e = entree(std::slice::from_ref(&deca), far()).expect("a DECA rupture enters the queue");
        assert_eq!((e.dossier_id.as_str(), e.date_rupture), ("deca-C-1", day("2026-01-10")));
        // The ERP's dossier of the same person wins, rupture or not.
        let erp = dossier("a", &[("2025-09-01", Apprenti)]);
        assert_eq!(entree(&[deca.clone(), erp], far()), None);
        let erp = dossier("a", &[("2025-09-01", Apprenti), ("2026-01-12", Rupturant)]);
        let e = entree(&[deca, erp], far()).expect("the ERP's rupture");
        assert_eq!((e.dossier_id.as_str(), e.date_rupture), ("a", day("2026-01-12")));
    }
}
