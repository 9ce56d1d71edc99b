//! The bounds every value must stay within, whatever channel brings it: the length of each family of
//! text, and the range of dates. One place, because two rules use them:
//!
//! - the edge (ERP push, native events, files, mutations, referentials) refuses what is out of bounds,
//!   naming the field and the limit, and adds plausibility rules that depend on today (a business date
//!   at most ten years ahead, a learner aged 13 to 100 at the session's start);
//! - the projections set aside (quarantine) an event already in the log that a read model could not
//!   hold. Their bounds are fixed (never "today"), so that a rebuild years later admits the same events.
//!
//! Lengths are counted in characters (what an ERP developer counts), and every limit is far below what
//! a PostgreSQL index entry can hold (about 2,700 bytes).

use chrono::{Datelike, NaiveDate};

use crate::domain::Invalid;

/// The families of free text, each with its own length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Texte {
    /// Identifiers chosen by the sender (`id_erp_apprenant`, ids of Missions Locales): 100 characters.
    Identifiant,
    /// A person's name or first names: 150 characters.
    Nom,
    /// Labels: a formation, an organisme, a cause or motif: 500 characters.
    Libelle,
    /// A postal address: 500 characters.
    Adresse,
    /// Free comments (advisors, corrections, withdrawals): 5,000 characters.
    Commentaire,
}

impl Texte {
    pub const fn max(self) -> usize {
        match self {
            Texte::Identifiant => 100,
            Texte::Nom => 150,
            Texte::Libelle | Texte::Adresse => 500,
            Texte::Commentaire => 5000,
        }
    }

    /// Line breaks and tabs are text in a comment or an address; anywhere else, like every other
    /// control character, they are refused (they break lists, files and terminals).
    const fn multiligne(self) -> bool {
        matches!(self, Texte::Adresse | Texte::Commentaire)
    }

    /// Whether `value` fits this family.
    pub fn check(self, value: &str) -> Result<(), Invalid> {
        let length = value.chars().count();
        if length > self.max() {
            return Err(Invalid::new(format!("{length} caractères : {} au plus pour ce champ", self.max())));
        }
        let allowed = |c: char| self.multiligne() && matches!(c, '\n' | '\r' | '\t');
        if let Some(c) = value.chars().find(|&c| c.is_control() && !allowed(c)) {
            return Err(Invalid::new(format!("caractère de contrôle non autorisé (U+{:04X})", u32::from(c))));
        }
        Ok(())
    }
}

/// The first and last day any read model holds. Fixed, so that admission never depends on when a
/// projection runs.
pub const PREMIER_JOUR: NaiveDate = date(1900, 1, 1);
pub const DERNIER_JOUR: NaiveDate = date(2199, 12, 31);

/// The first business day (a session, a contract, a rupture…) the edge accepts.
pub const PREMIER_JOUR_METIER: NaiveDate = date(1990, 1, 1);
/// How many years ahead of today the edge accepts a business day.
pub const ANNEES_A_VENIR: i32 = 10;
/// The ages a learner may have on the first day of their session.
pub const AGE_MIN: u32 = 13;
pub const AGE_MAX: u32 = 100;

const fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(d) => d,
        None => panic!("a valid constant date"),
    }
}

/// Whether a read model can hold `day`.
pub fn jour(day: NaiveDate) -> Result<(), Invalid> {
    if (PREMIER_JOUR..=DERNIER_JOUR).contains(&day) {
        Ok(())
    } else {
        Err(Invalid::new(format!("date hors de la plage admise ({PREMIER_JOUR} à {DERNIER_JOUR})")))
    }
}

/// The last business day the edge accepts on `today`.
pub fn dernier_jour_metier(today: NaiveDate) -> NaiveDate {
    today.with_year(today.year() + ANNEES_A_VENIR).unwrap_or(today + chrono::Days::new(3652))
}

/// Whether `day` is a plausible business day on `today`: from 1990 to ten years ahead.
pub fn jour_metier(day: NaiveDate, today: NaiveDate) -> Result<(), Invalid> {
    let last = dernier_jour_metier(today);
    if (PREMIER_JOUR_METIER..=last).contains(&day) {
        Ok(())
    } else {
        Err(Invalid::new(format!("date invraisemblable : attendue entre {PREMIER_JOUR_METIER} et {last}")))
    }
}

/// Whether a learner born on `naissance` is 13 to 100 years old when their session starts.
pub fn naissance(naissance: NaiveDate, debut_session: NaiveDate) -> Result<(), Invalid> {
    let age = debut_session.years_since(naissance);
    match age {
        Some(age) if (AGE_MIN..=AGE_MAX).contains(&age) => Ok(()),
        _ => Err(Invalid::new(format!(
            "date de naissance invraisemblable : l'apprenant doit avoir de {AGE_MIN} à {AGE_MAX} ans \
             à la date d'entrée en formation ({debut_session})"
        ))),
    }
}

/// What is wrong with a value at `path` (a field of an event's data, `personnel.nom`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} : {invalid}")]
pub struct HorsLimite {
    pub path: String,
    pub invalid: Invalid,
}

/// Collects the first value out of bounds, with its path.
#[derive(Default)]
pub struct Bornes {
    first: Option<HorsLimite>,
}

impl Bornes {
    pub fn texte(&mut self, path: &str, value: Option<&str>, famille: Texte) -> &mut Self {
        if let Some(value) = value {
            self.note(path, famille.check(value));
        }
        self
    }

    pub fn jour(&mut self, path: &str, day: Option<NaiveDate>) -> &mut Self {
        if let Some(day) = day {
            self.note(path, jour(day));
        }
        self
    }

    /// `fin` is not before `debut` (both known).
    pub fn ordre(&mut self, path: &str, debut: NaiveDate, fin: Option<NaiveDate>) -> &mut Self {
        if fin.is_some_and(|fin| fin < debut) {
            self.note(path, Err(Invalid::new(format!("ne peut précéder la date de début ({debut})"))));
        }
        self
    }

    pub fn entier(
        &mut self,
        path: &str,
        value: Option<i64>,
        range: std::ops::RangeInclusive<i64>,
    ) -> &mut Self {
        if let Some(value) = value.filter(|v| !range.contains(v)) {
            let (low, high) = (range.start(), range.end());
            self.note(path, Err(Invalid::new(format!("{value} : entier de {low} à {high} attendu"))));
        }
        self
    }

    pub fn note(&mut self, path: &str, outcome: Result<(), Invalid>) -> &mut Self {
        if let (None, Err(invalid)) = (&self.first, outcome) {
            self.first = Some(HorsLimite { path: path.to_owned(), invalid });
        }
        self
    }

    pub fn finish(&mut self) -> Result<(), HorsLimite> {
        self.first.take().map_or(Ok(()), Err)
    }
}

/// Every string of a JSON value within the longest family, every day-shaped string a day a read model
/// holds: the bound of events whose shape the projections read loosely.
pub fn json(value: &serde_json::Value) -> Result<(), HorsLimite> {
    fn walk(path: &mut String, value: &serde_json::Value) -> Result<(), HorsLimite> {
        match value {
            serde_json::Value::String(text) => {
                let refuse = |invalid| HorsLimite { path: path.clone(), invalid };
                if text.chars().count() > Texte::Commentaire.max() {
                    return Err(refuse(Invalid::new(format!(
                        "texte de plus de {} caractères",
                        Texte::Commentaire.max()
                    ))));
                }
                let day =
                    text.get(..10).filter(|_| text.len() == 10 || text.as_bytes().get(10) == Some(&b'T'));
                if let Some(day) = day.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
                    jour(day).map_err(refuse)?;
                }
                Ok(())
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(path, item)?;
                    path.truncate(len);
                }
                Ok(())
            }
            serde_json::Value::Object(fields) => {
                for (key, item) in fields {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    walk(path, item)?;
                    path.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(&mut String::new(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_names_its_limit() {
        assert!(Texte::Identifiant.check(&"a".repeat(100)).is_ok());
        let refused = Texte::Identifiant.check(&"a".repeat(101)).expect_err("too long");
        assert!(refused.0.contains("100 au plus"), "{refused}");
        assert!(Texte::Nom.check(&"é".repeat(150)).is_ok(), "characters, not bytes");
        assert!(Texte::Commentaire.check(&"x".repeat(5001)).is_err());
    }

    #[test]
    fn control_characters_only_where_lines_are_text() {
        assert!(Texte::Commentaire.check("ligne 1\nligne 2\tfin").is_ok());
        assert!(Texte::Adresse.check("1 rue\r\n75001").is_ok());
        for famille in [Texte::Nom, Texte::Identifiant, Texte::Libelle] {
            assert!(famille.check("DU\nPONT").is_err());
        }
        let refused = Texte::Commentaire.check("a\u{0}b").expect_err("NUL");
        assert!(refused.0.contains("U+0000"), "{refused}");
        assert!(Texte::Nom.check("a\u{1b}[31m").is_err());
    }

    #[test]
    fn days_are_bounded_fixed_for_read_models_and_relative_at_the_edge() {
        let today = date(2026, 12, 6);
        assert!(jour(date(0, 1, 1)).is_err());
        assert!(jour(date(1900, 1, 1)).is_ok());
        assert!(jour(date(2200, 1, 1)).is_err());
        assert!(jour_metier(date(1989, 12, 31), today).is_err());
        assert!(jour_metier(date(1990, 1, 1), today).is_ok());
        assert!(jour_metier(date(2036, 12, 6), today).is_ok());
        assert!(jour_metier(date(2036, 12, 7), today).is_err());
    }

    #[test]
    fn a_learner_is_13_to_100_when_the_session_starts() {
        let start = date(2025, 9, 1);
        assert!(naissance(date(2012, 9, 1), start).is_ok(), "13 that day");
        assert!(naissance(date(2012, 9, 2), start).is_err(), "13 the day after");
        assert!(naissance(date(1925, 9, 2), start).is_ok(), "100");
        assert!(naissance(date(1924, 9, 1), start).is_err(), "101");
        assert!(naissance(date(2030, 1, 1), start).is_err(), "born after the start");
    }

    #[test]
    fn json_walk_names_the_path_of_what_is_out_of_bounds() {
        let ok = serde_json::json!({ "a": "2025-09-01", "b": ["x", { "c": "0000-01-01x" }] });
        assert!(json(&ok).is_ok());
        let bad = serde_json::json!({ "a": [1, { "date": "0000-01-01" }] });
        assert_eq!(json(&bad).expect_err("year 0").path, "a[1].date");
        let long = serde_json::json!({ "commentaire": "x".repeat(5001) });
        assert_eq!(json(&long).expect_err("too long").path, "commentaire");
    }
}
