//! The territories of domain.md §10: départements, with their région and académie (all by the
//! organisme's location), from the reference files embedded in the binary (`data/`).

use std::collections::HashMap;
use std::sync::OnceLock;

/// A département and the région and académie it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departement {
    pub code: String,
    pub region: String,
    pub academie: String,
}

struct Tables {
    departements: HashMap<String, Departement>,
    departements_noms: HashMap<String, String>,
    regions: HashMap<String, String>,
    academies: HashMap<String, String>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let rows = |text: &'static str| -> Vec<Vec<String>> {
            csv::Reader::from_reader(text.as_bytes())
                .records()
                .map(|r| {
                    r.expect("embedded reference CSV is well-formed").iter().map(str::to_owned).collect()
                })
                .collect()
        };
        let names = |text| rows(text).into_iter().map(|r| (r[0].clone(), r[1].clone())).collect();
        Tables {
            departements: rows(include_str!("../../../data/departements.csv"))
                .into_iter()
                .map(|r| {
                    (
                        r[0].clone(),
                        Departement { code: r[0].clone(), region: r[1].clone(), academie: r[2].clone() },
                    )
                })
                .collect(),
            departements_noms: names(include_str!("../../../data/departements_noms.csv")),
            regions: names(include_str!("../../../data/regions.csv")),
            academies: names(include_str!("../../../data/academies.csv")),
        }
    })
}

/// The département of that code (`01`, `2A`, `974`, ...); a one-digit code is padded (`1` → `01`).
pub fn departement(code: &str) -> Option<&'static Departement> {
    let code = code.trim().to_uppercase();
    let code = if code.len() == 1 { format!("0{code}") } else { code };
    tables().departements.get(&code)
}

/// Every département, by code.
pub fn departements() -> Vec<&'static Departement> {
    let mut all: Vec<_> = tables().departements.values().collect();
    all.sort_by(|a, b| a.code.cmp(&b.code));
    all
}

pub fn departement_nom(code: &str) -> Option<&'static str> {
    tables().departements_noms.get(code).map(String::as_str)
}

pub fn region_nom(code: &str) -> Option<&'static str> {
    tables().regions.get(code).map(String::as_str)
}

pub fn academie_nom(code: &str) -> Option<&'static str> {
    tables().academies.get(code).map(String::as_str)
}

/// The région of an académie: that of its départements (of its first in code order for the overseas
/// académies that span several collectivities); none for an académie without département.
pub fn region_of_academie(code: &str) -> Option<&'static str> {
    let code = code.trim();
    tables()
        .departements
        .values()
        .filter(|d| d.academie == code)
        .min_by(|a, b| a.code.cmp(&b.code))
        .map(|d| d.region.as_str())
}

/// The académies of a région, in code order.
pub fn academies_of_region(region: &str) -> Vec<String> {
    let mut academies: Vec<String> = departements()
        .into_iter()
        .filter(|d| d.region == region.trim())
        .map(|d| d.academie.clone())
        .collect();
    academies.sort();
    academies.dedup();
    academies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departements_know_their_region_and_academie() {
        let rhone = departement("69").expect("Rhône");
        assert_eq!((rhone.region.as_str(), rhone.academie.as_str()), ("84", "10"));
        assert_eq!(region_nom(&rhone.region), Some("Auvergne-Rhône-Alpes"));
        assert_eq!(academie_nom(&rhone.academie), Some("Lyon"));
        assert_eq!(departement("2a").map(|d| d.region.as_str()), Some("94"));
        assert_eq!(departement("974").map(|d| d.region.as_str()), Some("04"));
        assert_eq!(departement("1").map(|d| d.code.as_str()), Some("01"));
        assert!(departement("00").is_none());
        assert_eq!(region_of_academie("10"), Some("84"));
        assert_eq!(region_of_academie("32"), Some("01"));
        assert_eq!(academies_of_region("84"), ["06", "08", "10"]);
    }

    #[test]
    fn every_departement_points_to_a_known_region_and_academie() {
        for d in tables().departements.values() {
            assert!(region_nom(&d.region).is_some(), "{d:?}");
            assert!(academie_nom(&d.academie).is_some(), "{d:?}");
            assert!(departement_nom(&d.code).is_some(), "every département has its name: {d:?}");
        }
        assert_eq!(departement_nom("69"), Some("Rhône"));
        assert_eq!(departement_nom("2A"), Some("Corse-du-Sud"));
        assert!(tables().departements.len() >= 101);
    }
}
