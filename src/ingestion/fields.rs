//! Reading the loosely typed fields of an ERP item (JSON object, or a spreadsheet row turned into one):
//! the coercions ERPs rely on (numbers sent as strings and strings as numbers, datetimes where a date is
//! expected, empty strings for "nothing"), each refusal recorded against the field's path.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::FieldError;
use events::domain::Invalid;

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

    /// The field as trimmed text: strings, and numbers or booleans written as text. Absent, null and
    /// empty are `None` (an empty value never erases anything).
    pub fn text(&mut self, field: &str) -> Option<String> {
        let text = match self.fields.get(field)? {
            Value::Null => return None,
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) => {
                self.refuse(field, "doit être une valeur simple (texte, nombre ou date)");
                return None;
            }
        };
        (!text.is_empty()).then_some(text)
    }

    /// A required text field.
    pub fn required_text(&mut self, field: &str) -> Option<String> {
        let value = self.text(field);
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

    pub fn date(&mut self, field: &str) -> Option<NaiveDate> {
        self.parsed(field, parse_date)
    }

    pub fn required_date(&mut self, field: &str) -> Option<NaiveDate> {
        self.required(field, parse_date)
    }

    pub fn datetime(&mut self, field: &str) -> Option<DateTime<Utc>> {
        self.parsed(field, |s| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .or_else(|_| parse_date(s).map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc()))
                .map_err(|_| {
                    Invalid::new("date et heure attendues au format ISO 8601 (ex. 2025-09-01T08:00:00Z)")
                })
        })
    }

    pub fn boolean(&mut self, field: &str) -> Option<bool> {
        self.parsed(field, |s| match s.to_lowercase().as_str() {
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
