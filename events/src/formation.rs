//! The formations referential (domain.md §12): one stream per formation (`formation-<CFD>`), whose
//! events each carry its entry whole as it became known (CFD, RNCP, libellé, niveau, ROME codes), so that
//! a replay gives each day's sectors. A ROME code's first letter is its sector ("grand domaine", A–N).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::domain::{Cfd, Rncp};

pub const FORMATION_ENREGISTREE: &str = "FormationEnregistree";

/// The sectors ("grands domaines" of the ROME), A to N.
pub const SECTEURS: std::ops::RangeInclusive<char> = 'A'..='N';

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Formation {
    pub cfd: Cfd,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rncp: Option<Rncp>,
    pub libelle: String,
    /// The niveau of the qualification (3 to 8), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub niveau: Option<u8>,
    /// Its ROME codes (a letter A–N and four digits).
    pub codes_rome: BTreeSet<String>,
}

impl Formation {
    pub fn stream_id(&self) -> String {
        format!("formation-{}", self.cfd)
    }

    /// The sectors of its ROME codes.
    pub fn secteurs(&self) -> BTreeSet<char> {
        self.codes_rome.iter().filter_map(|c| secteur(c)).collect()
    }
}

/// A ROME code, upper-cased, or why not.
pub fn code_rome(raw: &str) -> Result<String, String> {
    let code = raw.trim().to_uppercase();
    let mut chars = code.chars();
    match (chars.next(), chars.as_str()) {
        (Some(letter), digits)
            if SECTEURS.contains(&letter)
                && digits.len() == 4
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(code)
        }
        _ => Err(format!("{raw:?} n'est pas un code ROME (une lettre de A à N et 4 chiffres, ex. D1106)")),
    }
}

/// A sector as asked (`d`, ` D `): its letter, upper-cased; none when empty; or why not.
pub fn parse_secteur(raw: &str) -> Result<Option<String>, String> {
    let text = raw.trim().to_uppercase();
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(None),
        (Some(c), None) if SECTEURS.contains(&c) => Ok(Some(text)),
        _ => Err(format!(
            "{:?} n'est pas un secteur (une lettre de A à N)",
            raw.chars().take(20).collect::<String>()
        )),
    }
}

/// The sector of a ROME code (its first letter).
pub fn secteur(code_rome: &str) -> Option<char> {
    code_rome.chars().next().filter(|c| SECTEURS.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rome_codes_and_their_sectors() {
        assert_eq!(code_rome(" d1106 "), Ok("D1106".into()));
        for wrong in ["D110", "Z1106", "D11066", "11066", ""] {
            assert!(code_rome(wrong).is_err(), "{wrong}");
        }
        let formation = Formation {
            cfd: Cfd::parse("50022137").unwrap(),
            rncp: None,
            libelle: "CAP CUISINE".into(),
            niveau: Some(3),
            codes_rome: ["G1602".to_owned(), "D1106".to_owned(), "G1603".to_owned()].into(),
        };
        assert_eq!(formation.secteurs(), ['D', 'G'].into());
        assert_eq!(formation.stream_id(), "formation-50022137");
    }
}
