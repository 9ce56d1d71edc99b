//! Whether a person is enrolled without a contract, and since when (domain.md §12): a pure function of
//! the parcours of all their dossiers, so that one person has one entry nationwide however many
//! dossiers they have.

use chrono::NaiveDate;
use events::domain::{communes, territoire};

use crate::status::{ChangePoint, Statut};

/// What the queue knows of one dossier of the person.
#[derive(Debug, Clone, PartialEq)]
pub struct DossierFt {
    pub dossier_id: String,
    pub parcours: Vec<ChangePoint>,
    pub naissance: NaiveDate,
    pub code_commune_insee: Option<String>,
    pub code_postal: Option<String>,
    pub cfd: Option<String>,
    pub rncp: Option<String>,
    pub retire: bool,
    pub formateur: (String, String),
    /// The person keys the dossier had before an identity correction.
    pub anciennes: Vec<String>,
}

/// One enrolment without a contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Inscription {
    pub dossier_id: String,
    /// Its first INSCRIT day.
    pub debut: NaiveDate,
    /// The day it ended and why (APPRENTI, ABANDON, FIN_DE_FORMATION).
    pub fin: Option<(NaiveDate, Statut)>,
    pub naissance: NaiveDate,
    /// The residence, as the person's latest dossier with one gives it.
    pub region: Option<String>,
    pub departement: Option<String>,
    pub code_postal: Option<String>,
    pub cfd: Option<String>,
    pub rncp: Option<String>,
    pub formateur: (String, String),
}

/// The département and région of a residence (INSEE code, else postal code).
pub fn territoire_de(
    code_commune_insee: Option<&str>,
    code_postal: Option<&str>,
) -> Option<(String, String)> {
    let commune = communes::candidats(code_commune_insee, code_postal)
        .into_iter()
        .find_map(|c| communes::commune(&c))?;
    let departement = territoire::departement(&commune.departement)?;
    Some((departement.code.clone(), departement.region.clone()))
}

/// The person's enrolments without a contract, oldest first: each INSCRIT stretch of a dossier not
/// withdrawn, up to its next status (APPRENTI, ABANDON, FIN_DE_FORMATION) or the first day the person
/// is APPRENTI in another dossier, whichever comes first; a stretch that overlaps an earlier one
/// begins where that one ends (one entry per person and day), and one that begins while the person
/// is APPRENTI elsewhere counts from when that contract is over, if it is before the stretch ends.
pub fn inscriptions(dossiers: &[DossierFt]) -> Vec<Inscription> {
    let dossiers: Vec<&DossierFt> = dossiers.iter().filter(|d| !d.retire).collect();
    let residence = dossiers.iter().rev().find(|d| d.code_commune_insee.is_some() || d.code_postal.is_some());
    let territoire =
        residence.and_then(|r| territoire_de(r.code_commune_insee.as_deref(), r.code_postal.as_deref()));
    // Every day some dossier is APPRENTI: [from, to) stretches.
    let apprenti: Vec<(NaiveDate, Option<NaiveDate>)> = dossiers
        .iter()
        .flat_map(|d| stretches(&d.parcours, Statut::Apprenti).map(|(from, to)| (from, to.map(|t| t.0))))
        .collect();
    let mut candidates: Vec<(NaiveDate, Fin, &DossierFt)> = dossiers
        .iter()
        .flat_map(|d| stretches(&d.parcours, Statut::Inscrit).map(move |(from, to)| (from, to, *d)))
        .collect();
    candidates.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.2.dossier_id.cmp(&b.2.dossier_id)));
    let mut out: Vec<Inscription> = Vec::new();
    for (mut debut, mut fin, dossier) in candidates {
        let ends = |fin: &Fin, day: NaiveDate| fin.is_some_and(|(f, _)| f <= day);
        // After the previous entry only.
        match out.last().map(|i| i.fin) {
            Some(None) => continue,
            Some(Some((end, _))) if end > debut => debut = end,
            _ => {}
        }
        // Not while under contract elsewhere: from the end of that contract.
        while let Some(&(_, to)) =
            apprenti.iter().find(|(from, to)| *from <= debut && to.is_none_or(|t| t > debut))
        {
            match to {
                Some(to) => debut = to,
                None => debut = NaiveDate::MAX,
            }
        }
        if debut == NaiveDate::MAX || ends(&fin, debut) {
            continue;
        }
        // Until the person is APPRENTI anywhere.
        if let Some(from) = apprenti.iter().map(|(from, _)| *from).filter(|from| *from > debut).min()
            && fin.is_none_or(|(f, _)| from < f)
        {
            fin = Some((from, Statut::Apprenti));
        }
        out.push(Inscription {
            dossier_id: dossier.dossier_id.clone(),
            debut,
            fin,
            naissance: dossier.naissance,
            region: territoire.as_ref().map(|t| t.1.clone()),
            departement: territoire.as_ref().map(|t| t.0.clone()),
            code_postal: residence.and_then(|r| r.code_postal.clone()),
            cfd: dossier.cfd.clone(),
            rncp: dossier.rncp.clone(),
            formateur: dossier.formateur.clone(),
        });
    }
    out
}

/// How a stretch ends: the next change point, if any.
type Fin = Option<(NaiveDate, Statut)>;

/// The stretches of a parcours in `statut`: their first day and the next change point, if any.
fn stretches(parcours: &[ChangePoint], statut: Statut) -> impl Iterator<Item = (NaiveDate, Fin)> + '_ {
    parcours
        .iter()
        .enumerate()
        .filter(move |(_, p)| p.statut == statut)
        .map(|(k, p)| (p.date, parcours.get(k + 1).map(|n| (n.date, n.statut))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Statut::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    fn dossier(id: &str, points: &[(&str, Statut)]) -> DossierFt {
        DossierFt {
            dossier_id: id.into(),
            parcours: points.iter().map(|(d, s)| ChangePoint { date: day(d), statut: *s }).collect(),
            naissance: day("2005-05-10"),
            code_commune_insee: Some("69123".into()),
            code_postal: None,
            cfd: Some("50022137".into()),
            rncp: None,
            retire: false,
            formateur: ("0691234A".into(), "12345678901234".into()),
            anciennes: Vec::new(),
        }
    }

    #[test]
    fn an_enrolment_without_contract_is_an_entry_until_its_contract() {
        let d = dossier("a", &[("2026-09-01", Inscrit), ("2026-11-15", Apprenti)]);
        let i = inscriptions(&[d]);
        assert_eq!(i.len(), 1);
        assert_eq!((i[0].debut, i[0].fin), (day("2026-09-01"), Some((day("2026-11-15"), Apprenti))));
        assert_eq!((i[0].region.as_deref(), i[0].departement.as_deref()), (Some("84"), Some("69")));
        // Abandon and end of formation end it too; a withdrawn dossier counts for nothing.
        let gone = dossier("b", &[("2026-09-01", Inscrit), ("2026-12-01", Abandon)]);
        assert_eq!(inscriptions(std::slice::from_ref(&gone))[0].fin, Some((day("2026-12-01"), Abandon)));
        assert!(inscriptions(&[DossierFt { retire: true, ..gone }]).is_empty());
    }

    #[test]
    fn a_rupture_is_not_an_enrolment_without_contract() {
        let d = dossier("a", &[("2026-09-01", Apprenti), ("2026-10-01", Rupturant)]);
        assert!(inscriptions(&[d]).is_empty());
    }

    #[test]
    fn one_entry_per_person_and_a_contract_elsewhere_ends_or_delays_it() {
        let a = dossier("a", &[("2026-09-01", Inscrit)]);
        let b = dossier("b", &[("2026-09-15", Inscrit)]);
        let i = inscriptions(&[a.clone(), b]);
        assert_eq!(i.len(), 1, "the later overlapping enrolment is the same entry");
        assert_eq!((i[0].dossier_id.as_str(), i[0].fin), ("a", None));
        let busy = dossier("c", &[("2026-10-01", Apprenti)]);
        let i = inscriptions(&[a.clone(), busy]);
        assert_eq!(i[0].fin, Some((day("2026-10-01"), Apprenti)), "under contract elsewhere: out");
        let before = dossier("d", &[("2026-08-01", Apprenti), ("2026-09-10", FinDeFormation)]);
        let i = inscriptions(&[a, before]);
        assert_eq!((i[0].debut, i[0].fin), (day("2026-09-10"), None), "from the end of that contract");
    }
}
