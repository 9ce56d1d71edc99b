//! The communes of France (domain.md §10), embedded from `data/communes.csv`, which
//! `scripts/derive_communes.py` derives from the open data of `@etalab/decoupage-administratif` (INSEE's
//! Code officiel géographique and La Poste's postal codes, Licence Ouverte). A residence's INSEE code may
//! be a current commune, a municipal arrondissement, a commune déléguée or associée, or a former code:
//! each knows the current commune it belongs to, which is what Mission Locale territories list.

use std::collections::HashMap;
use std::sync::OnceLock;

/// One INSEE code of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commune {
    pub code: String,
    pub nom: String,
    pub departement: String,
    /// The current commune this code belongs to (its own code for a current commune).
    pub commune: String,
    pub codes_postaux: Vec<String>,
}

impl Commune {
    /// Whether the code is a current commune (not an arrondissement, a delegated or a former one).
    pub fn is_current(&self) -> bool {
        self.code == self.commune
    }
}

struct Tables {
    by_code: HashMap<String, Commune>,
    /// Current communes by postal code.
    by_postal_code: HashMap<String, Vec<String>>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut by_code = HashMap::new();
        let mut by_postal_code: HashMap<String, Vec<String>> = HashMap::new();
        let mut reader = csv::Reader::from_reader(include_str!("../../../data/communes.csv").as_bytes());
        for record in reader.records() {
            let r = record.expect("the embedded communes file is well-formed");
            let commune = Commune {
                code: r[0].to_owned(),
                nom: r[1].to_owned(),
                departement: r[2].to_owned(),
                commune: r[3].to_owned(),
                codes_postaux: r[4].split_whitespace().map(str::to_owned).collect(),
            };
            if commune.is_current() {
                for postal in &commune.codes_postaux {
                    by_postal_code.entry(postal.clone()).or_default().push(commune.code.clone());
                }
            }
            by_code.insert(commune.code.clone(), commune);
        }
        Tables { by_code, by_postal_code }
    })
}

/// The commune of that INSEE code (`69383`, `2A004`), if the file knows it.
pub fn commune(code: &str) -> Option<&'static Commune> {
    tables().by_code.get(&code.trim().to_uppercase())
}

/// The current communes a postal code serves (several for most), in code order.
pub fn par_code_postal(code_postal: &str) -> Vec<&'static Commune> {
    let tables = tables();
    let mut communes: Vec<&Commune> = tables
        .by_postal_code
        .get(code_postal.trim())
        .into_iter()
        .flatten()
        .filter_map(|code| tables.by_code.get(code))
        .collect();
    communes.sort_by(|a, b| a.code.cmp(&b.code));
    communes
}

/// The current communes that may place a residence, best first: the current commune of its INSEE code
/// (an arrondissement or a former code counts as its commune), then the communes of its postal code, in
/// code order. A residence belongs to the Mission Locale of the first one a Mission Locale serves.
pub fn candidats(code_commune_insee: Option<&str>, code_postal: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> =
        code_commune_insee.and_then(commune).map(|c| vec![c.commune.clone()]).unwrap_or_default();
    out.extend(code_postal.map(par_code_postal).unwrap_or_default().iter().map(|c| c.code.clone()));
    out
}

/// What may place a residence in one of these current communes (see `candidats`): every INSEE code that
/// belongs to one of them, and their postal codes.
pub fn residences_de(actuelles: &std::collections::BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let tables = tables();
    let mut codes: Vec<String> =
        tables.by_code.values().filter(|c| actuelles.contains(&c.commune)).map(|c| c.code.clone()).collect();
    codes.sort();
    let mut postaux: Vec<String> = actuelles
        .iter()
        .filter_map(|code| tables.by_code.get(code))
        .flat_map(|c| c.codes_postaux.iter().cloned())
        .collect();
    postaux.sort();
    postaux.dedup();
    (codes, postaux)
}

/// Every current commune, in code order.
pub fn actuelles() -> Vec<&'static Commune> {
    let mut all: Vec<&Commune> = tables().by_code.values().filter(|c| c.is_current()).collect();
    all.sort_by(|a, b| a.code.cmp(&b.code));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_leads_to_a_current_commune_of_a_known_departement() {
        let lyon3 = commune("69383").expect("Lyon 3e");
        assert_eq!((lyon3.commune.as_str(), lyon3.departement.as_str()), ("69123", "69"));
        assert!(commune("69123").is_some_and(Commune::is_current));
        assert_eq!(commune("2a004").map(|c| c.departement.as_str()), Some("2A"));
        assert!(commune("99999").is_none());
        for c in tables().by_code.values() {
            assert!(commune(&c.commune).is_some_and(Commune::is_current), "{c:?}");
            assert!(super::super::territoire::departement(&c.departement).is_some(), "{c:?}");
        }
        assert!(actuelles().len() > 34_000, "{}", actuelles().len());
    }

    #[test]
    fn a_postal_code_names_the_current_communes_it_serves() {
        let codes: Vec<&str> = par_code_postal("69003").iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["69123"]);
        assert!(par_code_postal("01400").iter().any(|c| c.code == "01001"));
        assert!(par_code_postal("00000").is_empty());
    }
}
