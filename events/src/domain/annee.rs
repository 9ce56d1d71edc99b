//! The année scolaire of a dossier: `YYYY-YYYY`, the two years equal (a calendar-year formation) or
//! consecutive (a school year, 1 August → 31 July).

use chrono::{Datelike, NaiveDate};

use super::{Invalid, string_value};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AnneeScolaire(String);

impl AnneeScolaire {
    /// `2025-2026`, `2025/2026`, ` 2025 - 2026 ` and `2025-2025` are accepted; `2025-2027` is not.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value: String =
            raw.chars().filter(|c| !c.is_whitespace()).map(|c| if c == '/' { '-' } else { c }).collect();
        let years = value.split_once('-').and_then(|(a, b)| {
            let four_digits = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
            (four_digits(a) && four_digits(b)).then(|| (a.parse::<i32>().ok(), b.parse::<i32>().ok()))
        });
        match years {
            Some((Some(first), Some(last))) if last == first || last == first + 1 => Ok(AnneeScolaire(value)),
            _ => Err(Invalid::new(
                "l'année scolaire doit être de la forme AAAA-AAAA, avec deux années identiques ou consécutives \
                 (ex. 2025-2026)",
            )),
        }
    }

    /// The school year (1 August → 31 July) that contains `date`.
    pub fn containing(date: NaiveDate) -> Self {
        let first = if date.month() >= 8 { date.year() } else { date.year() - 1 };
        AnneeScolaire(format!("{first}-{}", first + 1))
    }

    /// The calendar-year form (`2025-2025`) of `year`.
    pub fn calendar(year: i32) -> Self {
        AnneeScolaire(format!("{year}-{year}"))
    }

    pub fn first_year(&self) -> i32 {
        self.0[..4].parse().expect("checked at parse: four digits")
    }

    pub fn last_year(&self) -> i32 {
        self.0[5..].parse().expect("checked at parse: four digits")
    }
}
string_value!(AnneeScolaire);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_spaces_are_normalised() {
        for (raw, expected) in [
            ("2025-2026", "2025-2026"),
            ("2025/2026", "2025-2026"),
            (" 2025 - 2026 ", "2025-2026"),
            ("2025-2025", "2025-2025"),
        ] {
            assert_eq!(AnneeScolaire::parse(raw).map(|a| a.0), Ok(expected.to_owned()), "{raw}");
        }
    }

    #[test]
    fn years_must_be_equal_or_consecutive() {
        for raw in ["", "2025", "2025-2027", "2026-2025", "25-26", "2025-26", "2025_2026", "abcd-efgh"] {
            assert!(AnneeScolaire::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn a_school_year_runs_from_august_to_july() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
        assert_eq!(AnneeScolaire::containing(day(2025, 8, 1)).as_str(), "2025-2026");
        assert_eq!(AnneeScolaire::containing(day(2026, 7, 31)).as_str(), "2025-2026");
        assert_eq!(AnneeScolaire::containing(day(2026, 1, 15)).as_str(), "2025-2026");
        assert_eq!(AnneeScolaire::calendar(2025).as_str(), "2025-2025");
        let annee = AnneeScolaire::parse("2025-2026").expect("valid");
        assert_eq!((annee.first_year(), annee.last_year()), (2025, 2026));
    }
}
