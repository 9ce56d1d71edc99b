//! Identifiers of organismes, formations, learners and places.

use super::{Invalid, string_value, strip};

/// Unité administrative immatriculée: 7 digits and a letter, upper-cased (`0751234A`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uai(String);

impl Uai {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim().to_uppercase();
        let b = value.as_bytes();
        if b.len() == 8 && b[..7].iter().all(u8::is_ascii_digit) && b[7].is_ascii_uppercase() {
            Ok(Uai(value))
        } else {
            Err(Invalid::new("l'UAI doit comporter 7 chiffres suivis d'une lettre (ex. 0751234A)"))
        }
    }
}
string_value!(Uai);

/// SIRET: 14 digits, separators removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Siret(String);

impl Siret {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = strip(raw, &['.', '-', '/', '_']);
        if value.len() == 14 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Siret(value))
        } else {
            Err(Invalid::new("le SIRET doit comporter 14 chiffres"))
        }
    }

    /// The SIREN of the legal entity (the first 9 digits).
    pub fn siren(&self) -> &str {
        &self.0[..9]
    }
}
string_value!(Siret);

/// An organisme de formation, by its UAI and SIRET: written `UAI:SIRET` wherever one string names it
/// (keys, filters, access rules, the access log).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct OrganismeRef {
    pub uai: Uai,
    pub siret: Siret,
}

impl std::fmt::Display for OrganismeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.uai, self.siret)
    }
}

impl std::str::FromStr for OrganismeRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (uai, siret) =
            s.split_once(':').ok_or("the organisme is UAI:SIRET, e.g. 0751234A:12345678901234")?;
        Ok(OrganismeRef {
            uai: Uai::parse(uai).map_err(|e| format!("UAI: {e}"))?,
            siret: Siret::parse(siret).map_err(|e| format!("SIRET: {e}"))?,
        })
    }
}

/// Code formation diplôme: exactly 8 characters `[A-Z0-9]`, upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cfd(String);

impl Cfd {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim().to_uppercase();
        if value.len() == 8 && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            Ok(Cfd(value))
        } else {
            Err(Invalid::new("le code formation diplôme (CFD) doit comporter 8 caractères alphanumériques"))
        }
    }
}
string_value!(Cfd);

/// RNCP code: `RNCP` and 2 to 5 digits; separators removed, upper-cased, the prefix added if missing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rncp(String);

impl Rncp {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = strip(raw, &['.', '-', '/', '_']).to_uppercase();
        let digits = value.strip_prefix("RNCP").unwrap_or(&value);
        if (2..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Rncp(format!("RNCP{digits}")))
        } else {
            Err(Invalid::new("le code RNCP doit être « RNCP » suivi de 2 à 5 chiffres (ex. RNCP34825)"))
        }
    }
}
string_value!(Rncp);

/// Identifiant national élève: 9 digits and 2 letters, or 10 alphanumerics and a letter; upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ine(String);

impl Ine {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim().to_uppercase();
        let b = value.as_bytes();
        let valid = b.len() == 11
            && ((b[..9].iter().all(u8::is_ascii_digit) && b[9..].iter().all(u8::is_ascii_uppercase))
                || (b[..10].iter().all(u8::is_ascii_alphanumeric) && b[10].is_ascii_uppercase()));
        if valid {
            Ok(Ine(value))
        } else {
            Err(Invalid::new(
                "l'INE doit comporter 9 chiffres et 2 lettres, ou 10 caractères alphanumériques et une lettre",
            ))
        }
    }
}
string_value!(Ine);

/// Code commune INSEE: 2 digits (or `2A`/`2B` for Corsica) and 3 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodeInsee(String);

impl CodeInsee {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim().to_uppercase();
        let b = value.as_bytes();
        let departement_ok = b.len() == 5
            && (b[..2].iter().all(u8::is_ascii_digit) || (b[0] == b'2' && (b[1] == b'A' || b[1] == b'B')));
        if departement_ok && b[2..].iter().all(u8::is_ascii_digit) {
            Ok(CodeInsee(value))
        } else {
            Err(Invalid::new("le code commune INSEE doit comporter 5 caractères (ex. 75056, 2A004)"))
        }
    }

    /// The département code: `2A`, `2B`, `971`..`976` overseas, else the first two digits.
    pub fn departement(&self) -> &str {
        if self.0.starts_with("97") { &self.0[..3] } else { &self.0[..2] }
    }
}
string_value!(CodeInsee);

/// Code postal: 5 digits, left-padded with zeros (`1000` → `01000`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodePostal(String);

impl CodePostal {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        if (1..=5).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(CodePostal(format!("{value:0>5}")))
        } else {
            Err(Invalid::new("le code postal doit comporter 5 chiffres"))
        }
    }
}
string_value!(CodePostal);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uai_is_trimmed_upper_cased_and_checked() {
        for (raw, expected) in [("0751234A", Some("0751234A")), (" 0751234a ", Some("0751234A"))] {
            assert_eq!(Uai::parse(raw).ok().as_ref().map(Uai::as_str), expected, "{raw}");
        }
        for raw in ["", "075123A", "07512345A", "0751234", "A751234A", "0751234AB", "0751234É"] {
            assert!(Uai::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn siret_drops_separators_and_needs_14_digits() {
        for (raw, expected) in [
            ("12345678901234", "12345678901234"),
            ("123 456 789 01234", "12345678901234"),
            ("123.456.789-01234", "12345678901234"),
        ] {
            assert_eq!(Siret::parse(raw).map(|s| s.0), Ok(expected.to_owned()), "{raw}");
        }
        for raw in ["", "1234567890123", "123456789012345", "1234567890123A"] {
            assert!(Siret::parse(raw).is_err(), "{raw}");
        }
        assert_eq!(Siret::parse("12345678901234").map(|s| s.siren().to_owned()), Ok("123456789".into()));
    }

    #[test]
    fn cfd_is_eight_upper_case_alphanumerics() {
        assert_eq!(Cfd::parse(" 50025219 ").map(|c| c.0), Ok("50025219".into()));
        assert_eq!(Cfd::parse("32c2240b").map(|c| c.0), Ok("32C2240B".into()));
        for raw in ["", "5002521", "500252190", "5002-219"] {
            assert!(Cfd::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn rncp_gets_its_prefix_and_loses_separators() {
        for (raw, expected) in [
            ("RNCP34825", "RNCP34825"),
            ("rncp 34825", "RNCP34825"),
            ("34825", "RNCP34825"),
            ("RNCP-12", "RNCP12"),
            ("RNCP.123.45", "RNCP12345"),
        ] {
            assert_eq!(Rncp::parse(raw).map(|r| r.0), Ok(expected.to_owned()), "{raw}");
        }
        for raw in ["", "RNCP", "RNCP1", "RNCP123456", "RNCPABC", "RNC12345"] {
            assert!(Rncp::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn ine_has_two_accepted_shapes() {
        for (raw, expected) in
            [("123456789AB", "123456789AB"), (" 1234567890a ", "1234567890A"), ("0A1B2C3D4EF", "0A1B2C3D4EF")]
        {
            assert_eq!(Ine::parse(raw).map(|i| i.0), Ok(expected.to_owned()), "{raw}");
        }
        for raw in ["", "123456789A", "12345678901", "123456789ABC", "12345678-AB"] {
            assert!(Ine::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn code_insee_accepts_corsica_and_overseas() {
        for (raw, departement) in [("75056", "75"), ("2A004", "2A"), ("2b033", "2B"), ("97411", "974")] {
            let code = CodeInsee::parse(raw).expect(raw);
            assert_eq!(code.departement(), departement, "{raw}");
        }
        for raw in ["", "7505", "750566", "2C004", "AB123", "75A56"] {
            assert!(CodeInsee::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn code_postal_is_left_padded() {
        for (raw, expected) in [("75001", "75001"), ("1000", "01000"), (" 6000 ", "06000")] {
            assert_eq!(CodePostal::parse(raw).map(|c| c.0), Ok(expected.to_owned()), "{raw}");
        }
        for raw in ["", "750011", "75A01"] {
            assert!(CodePostal::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn values_read_back_from_json_are_checked_again() {
        assert_eq!(serde_json::from_str::<Uai>("\"0751234a\"").map(|u| u.0).ok(), Some("0751234A".into()));
        assert!(serde_json::from_str::<Uai>("\"nope\"").is_err());
        assert_eq!(
            serde_json::to_string(&Siret::parse("12345678901234").expect("valid")).ok(),
            Some("\"12345678901234\"".into())
        );
    }
}
