//! Reading the loosely typed fields of an ERP item (JSON object, or a spreadsheet row turned into one):
//! the coercions ERPs rely on (numbers sent as strings and strings as numbers, datetimes where a date is
//! expected, empty strings for "nothing"), each refusal recorded against the field's path.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::FieldError;
use events::domain::Invalid;
use events::limits::{self, Texte};

/// An item being read, and the errors found so far.
pub struct Item<'a> {
    fields: &'a Map<String, Value>,
    pub errors: Vec<FieldError>,
}

impl<'a> Item<'a> {
    pub fn new(fields: &'a Map<String, Value>) -> Self {
        Item { fields, errors: Vec::new() }
    }

    pub fn refuse(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// The field as trimmed text, as `accepts` allows it to be sent. Absent, null and empty are `None`
    /// (an empty value never erases anything).
    fn raw(&mut self, field: &str, accepts: Accepts) -> Option<String> {
        let text = match (self.fields.get(field)?, accepts) {
            (Value::Null, _) => return None,
            (Value::String(s), _) => s.trim().to_owned(),
            (Value::Number(n), Accepts::Code | Accepts::Identifiant | Accepts::Boolean) => n.to_string(),
            (Value::Bool(b), Accepts::Boolean) => b.to_string(),
            (Value::Number(_) | Value::Bool(_), Accepts::Label(_)) => {
                self.refuse(field, "texte attendu (entre guillemets)");
                return None;
            }
            (Value::Bool(_), Accepts::Code | Accepts::Identifiant) => {
                self.refuse(field, "texte ou nombre attendu, pas un booléen");
                return None;
            }
            (Value::Array(_) | Value::Object(_), _) => {
                self.refuse(field, "doit être une valeur simple (texte, nombre ou date)");
                return None;
            }
        };
        // Codes are bounded again by the types that parse them; this bound keeps a huge one from
        // travelling further (e-mails reach 254 characters).
        let famille = match accepts {
            Accepts::Label(famille) => famille,
            Accepts::Identifiant => Texte::Identifiant,
            Accepts::Code | Accepts::Boolean => Texte::Libelle,
        };
        if let Err(Invalid(message)) = famille.check(&text) {
            self.refuse(field, message);
            return None;
        }
        (!text.is_empty()).then_some(text)
    }

    /// A code or identifier: strings, and numbers written as text (ERPs send both).
    pub fn text(&mut self, field: &str) -> Option<String> {
        self.raw(field, Accepts::Code)
    }

    /// Free text of a family (`Texte`): a JSON string only, within the family's length.
    pub fn label(&mut self, field: &str, famille: Texte) -> Option<String> {
        self.raw(field, Accepts::Label(famille))
    }

    /// A required code or identifier.
    pub fn required_text(&mut self, field: &str) -> Option<String> {
        let value = self.text(field);
        self.require(field, value)
    }

    /// A required identifier chosen by the sender (strings and numbers), 100 characters at most.
    pub fn required_identifier(&mut self, field: &str) -> Option<String> {
        let value = self.raw(field, Accepts::Identifiant);
        self.require(field, value)
    }

    /// A required free text of a family.
    pub fn required_label(&mut self, field: &str, famille: Texte) -> Option<String> {
        let value = self.label(field, famille);
        self.require(field, value)
    }

    fn require(&mut self, field: &str, value: Option<String>) -> Option<String> {
        if value.is_none() && !self.errors.iter().any(|e| e.path == field) {
            self.refuse(field, "champ obligatoire");
        }
        value
    }

    /// An optional field parsed by a domain type; an invalid value is an error on the field.
    pub fn parsed<T>(&mut self, field: &str, parse: impl FnOnce(&str) -> Result<T, Invalid>) -> Option<T> {
        let text = self.text(field);
        self.check(field, text, parse)
    }

    /// A required field parsed by a domain type.
    pub fn required<T>(&mut self, field: &str, parse: impl FnOnce(&str) -> Result<T, Invalid>) -> Option<T> {
        let text = self.required_text(field);
        self.check(field, text, parse)
    }

    fn check<T>(
        &mut self,
        field: &str,
        text: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        parse(&text?).map_err(|Invalid(message)| self.refuse(field, message)).ok()
    }

    /// An optional field parsed by a domain type; an invalid value is silently dropped (the rule for
    /// fields whose bad values ERPs are known to send, such as the employer's SIRET).
    pub fn lenient<T>(&mut self, field: &str, parse: impl FnOnce(&str) -> Result<T, Invalid>) -> Option<T> {
        parse(&self.text(field)?).ok()
    }

    /// A day of the dossier's life (session, contract, rupture…): from 1990 to ten years from `today`.
    pub fn date(&mut self, field: &str, today: NaiveDate) -> Option<NaiveDate> {
        self.parsed(field, |s| business_day(s, today))
    }

    pub fn required_date(&mut self, field: &str, today: NaiveDate) -> Option<NaiveDate> {
        self.required(field, |s| business_day(s, today))
    }

    /// A day only the read models bound (a birth date, checked against the session by its caller).
    pub fn required_day(&mut self, field: &str) -> Option<NaiveDate> {
        self.required(field, |s| parse_date(s).and_then(|d| limits::jour(d).map(|()| d)))
    }

    pub fn datetime(&mut self, field: &str, today: NaiveDate) -> Option<DateTime<Utc>> {
        self.parsed(field, |s| {
            let moment = DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .or_else(|_| parse_date(s).map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc()))
                .map_err(|_| {
                    Invalid::new("date et heure attendues au format ISO 8601 (ex. 2025-09-01T08:00:00Z)")
                })?;
            limits::jour_metier(moment.date_naive(), today).map(|()| moment)
        })
    }

    pub fn boolean(&mut self, field: &str) -> Option<bool> {
        let text = self.raw(field, Accepts::Boolean);
        self.check(field, text, |s| match s.to_lowercase().as_str() {
            "true" | "1" | "oui" => Ok(true),
            "false" | "0" | "non" => Ok(false),
            _ => Err(Invalid::new("booléen attendu (true ou false)")),
        })
    }

    /// An integer within `range`; out of range or not a number is an error.
    pub fn integer(&mut self, field: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        let (low, high) = (*range.start(), *range.end());
        self.parsed(field, |s| match s.parse::<i64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(Invalid::new(format!("nombre entier de {low} à {high} attendu"))),
        })
    }

    /// An integer within `range`; anything else is silently absent.
    pub fn lenient_integer(&mut self, field: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        self.text(field)?.parse::<i64>().ok().filter(|n| range.contains(n))
    }
}

/// How a field may be sent.
#[derive(Clone, Copy)]
enum Accepts {
    /// A string or a number (codes).
    Code,
    /// A string or a number, an identifier's length.
    Identifiant,
    /// A string or a number or a boolean (`true`, `1`, `"oui"`…).
    Boolean,
    /// A string only, free text of this family.
    Label(Texte),
}

/// A calendar day of the dossier's life, plausible on `today`.
pub fn business_day(raw: &str, today: NaiveDate) -> Result<NaiveDate, Invalid> {
    let day = parse_date(raw)?;
    limits::jour_metier(day, today).map(|()| day)
}

/// A calendar day `YYYY-MM-DD`; a datetime whose first ten characters are that day is accepted (its
/// time and zone are ignored: dates are UTC calendar days end to end, never shifted by a time zone).
pub fn parse_date(raw: &str) -> Result<NaiveDate, Invalid> {
    let day = raw.get(..10).filter(|_| raw.len() == 10 || matches!(raw.as_bytes()[10], b'T' | b' '));
    day.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| Invalid::new("date attendue au format AAAA-MM-JJ (ex. 2025-09-01)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_accept_a_datetime_prefix_and_nothing_else() {
        let day = NaiveDate::from_ymd_opt(2007, 3, 14).expect("valid date");
        for raw in ["2007-03-14", "2007-03-14T00:00:00.000Z", "2007-03-14T23:30:00+02:00", "2007-03-14 10:00"]
        {
            assert_eq!(parse_date(raw), Ok(day), "{raw}");
        }
        for raw in ["", "14/03/2007", "2007-3-14", "2007-02-30", "2007-03-14x", "20070314"] {
            assert!(parse_date(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn free_text_is_a_string_within_its_family_and_booleans_are_booleans() {
        let fields = serde_json::json!({
            "nom": 12345, "prenom": true, "id": true, "long": "x".repeat(151), "ok": "Léa",
            "b1": true, "b2": "oui", "b3": 0, "b4": "peut-être", "ctl": "A\u{7}B"
        });
        let mut item = Item::new(fields.as_object().expect("object"));
        assert_eq!(item.label("nom", Texte::Nom), None);
        assert_eq!(item.label("prenom", Texte::Nom), None);
        assert_eq!(item.text("id"), None);
        assert_eq!(item.label("long", Texte::Nom), None);
        assert_eq!(item.label("ok", Texte::Nom).as_deref(), Some("Léa"));
        assert_eq!(item.label("ctl", Texte::Nom), None);
        assert_eq!(
            ["b1", "b2", "b3", "b4"].map(|f| item.boolean(f)),
            [Some(true), Some(true), Some(false), None]
        );
        let refused: Vec<_> = item.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(refused, ["nom", "prenom", "id", "long", "ctl", "b4"]);
        assert!(item.errors[3].message.contains("150 au plus"), "{:?}", item.errors[3]);
    }

    #[test]
    fn business_days_are_plausible() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).expect("valid date");
        assert!(business_day("0000-01-01", today).is_err());
        assert!(business_day("1989-12-31", today).is_err());
        assert!(business_day("2036-12-07", today).is_err());
        assert!(business_day("2025-09-01", today).is_ok());
    }

    #[test]
    fn text_coerces_numbers_and_treats_empty_as_absent() {
        let fields = serde_json::json!({ "a": 123, "b": "  ", "c": null, "d": [1], "e": " x " });
        let mut item = Item::new(fields.as_object().expect("object"));
        assert_eq!(item.text("a").as_deref(), Some("123"));
        assert_eq!(item.text("b"), None);
        assert_eq!(item.text("c"), None);
        assert_eq!(item.text("e").as_deref(), Some("x"));
        assert_eq!(item.text("d"), None);
        assert_eq!(item.required_text("zz"), None);
        let paths: Vec<_> = item.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["d", "zz"]);
    }
}
