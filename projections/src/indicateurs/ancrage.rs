//! The days an indicator cube stores its cells' sums on (`Ancrage`).

use chrono::{Datelike, Months, NaiveDate};

/// The days a cube stores each cell's sum on: a query reads the sums of the last such day before its
/// date, then the daily changes since. Weekly sums cost about four times the sum rows of monthly ones,
/// and read ten days of changes at most (the 22nd to the 31st) instead of a month: they are kept for the cubes with many cells
/// (by organisme and formation, a few hundred thousand changes in a rentrée month).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ancrage {
    /// The first day of each month.
    Mois,
    /// The 1st, 8th, 15th and 22nd of each month.
    Semaine,
}

impl Ancrage {
    /// The last day at or before `day` holding sums.
    pub fn ancre(self, day: NaiveDate) -> NaiveDate {
        let first = match self {
            Ancrage::Mois => 1,
            Ancrage::Semaine => (day.day() - 1).min(21) / 7 * 7 + 1,
        };
        day.with_day(first).expect("the 1st to the 22nd are in every month")
    }

    /// The first day after `day` holding sums.
    pub(super) fn suivante(self, day: NaiveDate) -> NaiveDate {
        let next_month =
            || day.with_day(1).and_then(|d| d.checked_add_months(Months::new(1))).expect("in the calendar");
        match self {
            Ancrage::Mois => next_month(),
            Ancrage::Semaine if day.day() >= 22 => next_month(),
            Ancrage::Semaine => self.ancre(day) + chrono::Duration::days(7),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn weekly_sums_fall_on_the_1st_8th_15th_and_22nd_and_monthly_ones_on_the_1st() {
        for (date, semaine, mois) in [
            ("2025-09-01", "2025-09-01", "2025-09-01"),
            ("2025-09-07", "2025-09-01", "2025-09-01"),
            ("2025-09-08", "2025-09-08", "2025-09-01"),
            ("2025-09-21", "2025-09-15", "2025-09-01"),
            ("2025-09-30", "2025-09-22", "2025-09-01"),
            ("2024-02-29", "2024-02-22", "2024-02-01"),
        ] {
            assert_eq!(Ancrage::Semaine.ancre(day(date)), day(semaine), "{date}");
            assert_eq!(Ancrage::Mois.ancre(day(date)), day(mois), "{date}");
        }
        for (date, semaine, mois) in [
            ("2025-09-01", "2025-09-08", "2025-10-01"),
            ("2025-09-14", "2025-09-15", "2025-10-01"),
            ("2025-09-22", "2025-10-01", "2025-10-01"),
            ("2025-12-31", "2026-01-01", "2026-01-01"),
        ] {
            assert_eq!(Ancrage::Semaine.suivante(day(date)), day(semaine), "{date}");
            assert_eq!(Ancrage::Mois.suivante(day(date)), day(mois), "{date}");
        }
    }
}
