//! Contact details: phone numbers and e-mail addresses, normalised so that the same contact is stored
//! the same way whichever ERP sent it.

use super::{Invalid, string_value, strip};

/// A phone number: French numbers (metropolitan and overseas) as `0XXXXXXXXX`, others in E.164
/// (`+` and 9 to 15 digits). Separators are removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Telephone(String);

/// Country calling codes of the French overseas départements and collectivities whose numbers are
/// dialled nationally as `0` + 9 digits (Guadeloupe, Saint-Barthélemy, Saint-Martin, Guyane,
/// Martinique, La Réunion, Mayotte, Saint-Pierre-et-Miquelon).
const FRENCH_OVERSEAS: [&str; 6] = ["590", "594", "596", "262", "269", "508"];

impl Telephone {
    /// `Ok(None)` for an empty value: an ERP that sends "" means "no phone".
    pub fn parse_optional(raw: &str) -> Result<Option<Self>, Invalid> {
        if strip(raw, &[]).is_empty() { Ok(None) } else { Self::parse(raw).map(Some) }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = strip(raw, &['.', '-', '(', ')', '/', '_']);
        let international = value.strip_prefix('+').or_else(|| value.strip_prefix("00"));
        let invalid = || {
            Invalid::new(
                "le numéro de téléphone doit être un numéro français à 10 chiffres (ex. 0612345678) \
                 ou un numéro international de 9 à 15 chiffres (ex. +32471234567)",
            )
        };
        let national = match international {
            None => value.clone(),
            Some(digits) if !digits.bytes().all(|b| b.is_ascii_digit()) => return Err(invalid()),
            Some(digits) => match digits.strip_prefix("33") {
                Some(rest) => format!("0{}", rest.strip_prefix('0').unwrap_or(rest)),
                None if FRENCH_OVERSEAS.iter().any(|cc| digits.starts_with(cc)) && digits.len() == 12 => {
                    format!("0{}", &digits[3..])
                }
                None if (9..=15).contains(&digits.len()) && !digits.starts_with('0') => {
                    return Ok(Telephone(format!("+{digits}")));
                }
                None => return Err(invalid()),
            },
        };
        let b = national.as_bytes();
        if b.len() == 10 && b[0] == b'0' && b[1] != b'0' && b.iter().all(u8::is_ascii_digit) {
            Ok(Telephone(national))
        } else {
            Err(invalid())
        }
    }
}
string_value!(Telephone);

/// An e-mail address: trimmed and lower-cased; one `@`, a local part, and a domain with a dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim().to_lowercase();
        let valid = value.len() <= 254
            && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(|label| !label.is_empty() && !label.starts_with('-'))
            });
        if valid { Ok(Email(value)) } else { Err(Invalid::new("l'adresse e-mail n'est pas valide")) }
    }
}
string_value!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_numbers_are_stored_in_national_form() {
        for (raw, expected) in [
            ("0612345678", "0612345678"),
            ("06 12 34 56 78", "0612345678"),
            ("06.12.34.56.78", "0612345678"),
            ("06-12-34-56-78", "0612345678"),
            ("+33 6 12 34 56 78", "0612345678"),
            ("+33 (0)6 12 34 56 78", "0612345678"),
            ("0033612345678", "0612345678"),
            ("+590 690 12 34 56", "0690123456"),
            ("+262 692 12 34 56", "0692123456"),
            ("+594 694 12 34 56", "0694123456"),
            ("0596123456", "0596123456"),
        ] {
            assert_eq!(Telephone::parse(raw).map(|t| t.0), Ok(expected.to_owned()), "{raw}");
        }
    }

    #[test]
    fn foreign_numbers_are_kept_in_e164() {
        assert_eq!(Telephone::parse("+32 471 23 45 67").map(|t| t.0), Ok("+32471234567".into()));
        assert_eq!(Telephone::parse("0041 79 123 45 67").map(|t| t.0), Ok("+41791234567".into()));
    }

    #[test]
    fn an_empty_phone_is_absent_and_garbage_is_refused() {
        assert_eq!(Telephone::parse_optional(""), Ok(None));
        assert_eq!(Telephone::parse_optional("  "), Ok(None));
        assert!(Telephone::parse("").is_err());
        assert!(Telephone::parse_optional("06").is_err());
        for raw in
            ["061234567", "06123456789", "0012", "+33 6 12", "abc", "+32 47a", "1612345678", "0012345678"]
        {
            assert!(Telephone::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn emails_are_trimmed_lower_cased_and_checked() {
        assert_eq!(Email::parse(" Lea.Martin@Example.FR ").map(|e| e.0), Ok("lea.martin@example.fr".into()));
        for raw in
            ["", "lea", "lea@", "@example.fr", "lea@example", "lea@@example.fr", "lé a@example.fr", "lea@.fr"]
        {
            assert!(Email::parse(raw).is_err(), "{raw}");
        }
    }
}
