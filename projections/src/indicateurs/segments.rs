//! What one dossier contributes to the indicators: the days on which it is counted, and under which age
//! band and status. A pure function of its année scolaire, birth date and parcours.
//!
//! domain.md §6 counts a dossier at date D when its année scolaire is the calendar year of D
//! (`2025-2025`) or the school year containing D (`2025-2026`, 1 August → 31 July): each année scolaire
//! has a window of days (`fenetre`), and a dossier counts only inside its own. Within it, the dossier is
//! counted under its status at D and its age band at D, so both change points and birthdays crossing a
//! band boundary start a new segment.

use chrono::{Datelike, NaiveDate};
use events::domain::AnneeScolaire;

use crate::status::{ChangePoint, Statut};

/// Age bands of domain.md §6: −18, 18–20, 21–25, 26+.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tranche {
    Moins18,
    De18a20,
    De21a25,
    Plus26,
}

impl Tranche {
    pub const ALL: [Tranche; 4] = [Tranche::Moins18, Tranche::De18a20, Tranche::De21a25, Tranche::Plus26];

    /// The first age of each band after the first.
    const BOUNDARIES: [i32; 3] = [18, 21, 26];

    pub fn of_age(age: i32) -> Tranche {
        match age {
            ..18 => Tranche::Moins18,
            18..=20 => Tranche::De18a20,
            21..=25 => Tranche::De21a25,
            _ => Tranche::Plus26,
        }
    }

    /// The band at `date` of someone born on `naissance`.
    pub fn at(naissance: NaiveDate, date: NaiveDate) -> Tranche {
        Tranche::of_age(age(naissance, date))
    }

    /// The stored code (0 to 3).
    pub fn code(self) -> i16 {
        self as i16
    }

    pub fn from_code(code: i16) -> Option<Tranche> {
        Tranche::ALL.get(usize::try_from(code).ok()?).copied()
    }

    /// The public name: `-18`, `18-20`, `21-25`, `26+`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tranche::Moins18 => "-18",
            Tranche::De18a20 => "18-20",
            Tranche::De21a25 => "21-25",
            Tranche::Plus26 => "26+",
        }
    }
}

/// Age in whole years at `date`. Someone born on 29 February gets one year older on 1 March in
/// common years.
pub fn age(naissance: NaiveDate, date: NaiveDate) -> i32 {
    let before_birthday = (date.month(), date.day()) < (naissance.month(), naissance.day());
    date.year() - naissance.year() - i32::from(before_birthday)
}

/// The first day on which someone born on `naissance` is `years` old.
fn anniversaire(naissance: NaiveDate, years: i32) -> NaiveDate {
    let year = naissance.year() + years;
    NaiveDate::from_ymd_opt(year, naissance.month(), naissance.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))
        .expect("1 March exists every year")
}

/// The days (first, last, inclusive) on which dossiers of `annee` are counted.
pub fn fenetre(annee: &AnneeScolaire) -> (NaiveDate, NaiveDate) {
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("fixed calendar day");
    if annee.first_year() == annee.last_year() {
        (day(annee.first_year(), 1, 1), day(annee.first_year(), 12, 31))
    } else {
        (day(annee.first_year(), 8, 1), day(annee.last_year(), 7, 31))
    }
}

/// The années scolaires whose dossiers are candidates at `date`: the calendar year, then the school
/// year.
pub fn candidates(date: NaiveDate) -> [AnneeScolaire; 2] {
    [AnneeScolaire::calendar(date.year()), AnneeScolaire::containing(date)]
}

/// From `debut` until the day before `fin`, the dossier counts as `statut` in band `tranche`. The last
/// segment ends with the window: its `fin` is the day after the window's last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub debut: NaiveDate,
    pub fin: NaiveDate,
    pub tranche: Tranche,
    pub statut: Statut,
}

impl Segment {
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.debut <= date && date < self.fin
    }
}

/// The segments of a dossier, in date order, inside the window of its année scolaire. Empty for a
/// dossier without parcours (withdrawn, or without a session day).
pub fn segments(annee: &AnneeScolaire, naissance: NaiveDate, parcours: &[ChangePoint]) -> Vec<Segment> {
    let (first, last) = fenetre(annee);
    let after_last = last.succ_opt().expect("windows are far from the calendar's end");
    // Every day a segment may start on: change points and birthdays, inside the window.
    let mut starts: Vec<NaiveDate> = parcours.iter().map(|p| p.date.max(first)).collect();
    starts.extend(Tranche::BOUNDARIES.iter().map(|&years| anniversaire(naissance, years)));
    starts.retain(|&d| first <= d && d <= last && parcours.first().is_some_and(|p| p.date <= d));
    starts.sort_unstable();
    starts.dedup();
    let mut segments: Vec<Segment> = Vec::with_capacity(starts.len());
    for (i, &debut) in starts.iter().enumerate() {
        let statut =
            crate::status::statut_at(parcours, debut).expect("starts are on or after the first point");
        let fin = starts.get(i + 1).copied().unwrap_or(after_last);
        segments.push(Segment { debut, fin, tranche: Tranche::at(naissance, debut), statut });
    }
    // A birthday inside a band, or a change point before the window, starts no new count.
    segments.dedup_by(|next, previous| {
        let same = (next.tranche, next.statut) == (previous.tranche, previous.statut);
        if same {
            previous.fin = next.fin;
        }
        same
    });
    segments
}

/// The segment covering `date`, if the dossier counts at `date`.
pub fn at(segments: &[Segment], date: NaiveDate) -> Option<&Segment> {
    segments.iter().find(|s| s.covers(date))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::status::statut_at;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn annee(raw: &str) -> AnneeScolaire {
        AnneeScolaire::parse(raw).expect("valid année scolaire")
    }

    fn point(date: NaiveDate, statut: Statut) -> ChangePoint {
        ChangePoint { date, statut }
    }

    #[test]
    fn ages_count_whole_years_and_leap_day_births_age_on_the_first_of_march() {
        assert_eq!(age(day(2008, 5, 10), day(2026, 5, 9)), 17);
        assert_eq!(age(day(2008, 5, 10), day(2026, 5, 10)), 18);
        assert_eq!(age(day(2008, 2, 29), day(2026, 2, 28)), 17);
        assert_eq!(age(day(2008, 2, 29), day(2026, 3, 1)), 18);
        assert_eq!(age(day(2008, 2, 29), day(2028, 2, 29)), 20);
        assert_eq!(anniversaire(day(2008, 2, 29), 18), day(2026, 3, 1));
        assert_eq!(anniversaire(day(2008, 2, 29), 20), day(2028, 2, 29));
        let bands: Vec<&str> = [17, 18, 20, 21, 25, 26, 40].map(|a| Tranche::of_age(a).as_str()).to_vec();
        assert_eq!(bands, ["-18", "18-20", "18-20", "21-25", "21-25", "26+", "26+"]);
    }

    #[test]
    fn school_years_run_august_to_july_and_calendar_years_january_to_december() {
        assert_eq!(fenetre(&annee("2025-2026")), (day(2025, 8, 1), day(2026, 7, 31)));
        assert_eq!(fenetre(&annee("2025-2025")), (day(2025, 1, 1), day(2025, 12, 31)));
        let names = candidates(day(2026, 1, 15)).map(|a| a.to_string());
        assert_eq!(names, ["2026-2026", "2025-2026"]);
        let names = candidates(day(2025, 9, 1)).map(|a| a.to_string());
        assert_eq!(names, ["2025-2025", "2025-2026"]);
    }

    #[test]
    fn a_dossier_counts_from_its_first_point_to_the_end_of_its_window() {
        let parcours = [
            point(day(2025, 9, 1), Statut::Inscrit),
            point(day(2025, 9, 15), Statut::Apprenti),
            point(day(2026, 6, 30), Statut::FinDeFormation),
        ];
        let found = segments(&annee("2025-2026"), day(1990, 1, 1), &parcours);
        let tranche = Tranche::Plus26;
        assert_eq!(
            found,
            [
                Segment { debut: day(2025, 9, 1), fin: day(2025, 9, 15), tranche, statut: Statut::Inscrit },
                Segment { debut: day(2025, 9, 15), fin: day(2026, 6, 30), tranche, statut: Statut::Apprenti },
                Segment {
                    debut: day(2026, 6, 30),
                    fin: day(2026, 8, 1),
                    tranche,
                    statut: Statut::FinDeFormation
                },
            ]
        );
    }

    #[test]
    fn a_birthday_crossing_a_band_splits_a_segment_and_one_inside_a_band_does_not() {
        let parcours = [point(day(2025, 9, 1), Statut::Apprenti)];
        let found = segments(&annee("2025-2026"), day(2008, 3, 1), &parcours);
        assert_eq!(
            found,
            [
                Segment {
                    debut: day(2025, 9, 1),
                    fin: day(2026, 3, 1),
                    tranche: Tranche::Moins18,
                    statut: Statut::Apprenti
                },
                Segment {
                    debut: day(2026, 3, 1),
                    fin: day(2026, 8, 1),
                    tranche: Tranche::De18a20,
                    statut: Statut::Apprenti
                },
            ]
        );
        let found = segments(&annee("2025-2026"), day(2006, 3, 1), &parcours);
        assert_eq!(found.len(), 1, "turning 20 stays in 18-20: {found:?}");
    }

    #[test]
    fn points_outside_the_window_are_clipped() {
        // A dossier of 2024-2025 still in its formation in 2025-2026 is not counted there.
        let parcours = [
            point(day(2024, 6, 1), Statut::Inscrit),
            point(day(2024, 9, 1), Statut::Apprenti),
            point(day(2026, 6, 30), Statut::FinDeFormation),
        ];
        let found = segments(&annee("2024-2025"), day(1990, 1, 1), &parcours);
        assert_eq!(
            found,
            [
                Segment {
                    debut: day(2024, 8, 1),
                    fin: day(2024, 9, 1),
                    tranche: Tranche::Plus26,
                    statut: Statut::Inscrit
                },
                Segment {
                    debut: day(2024, 9, 1),
                    fin: day(2025, 8, 1),
                    tranche: Tranche::Plus26,
                    statut: Statut::Apprenti
                },
            ]
        );
        // A parcours that starts after its window counts nowhere; one that ended before it counts
        // under its last status (domain.md §5, rule 11), which the année scolaire rarely allows.
        assert!(segments(&annee("2022-2023"), day(1990, 1, 1), &parcours).is_empty());
        let after = segments(&annee("2027-2028"), day(1990, 1, 1), &parcours);
        assert_eq!(after.iter().map(|s| s.statut).collect::<Vec<_>>(), [Statut::FinDeFormation]);
        assert!(segments(&annee("2025-2026"), day(1990, 1, 1), &[]).is_empty());
    }

    fn any_parcours() -> impl Strategy<Value = Vec<ChangePoint>> {
        let statut = prop_oneof![
            Just(Statut::Inscrit),
            Just(Statut::Apprenti),
            Just(Statut::Rupturant),
            Just(Statut::Abandon),
            Just(Statut::FinDeFormation),
        ];
        (0i64..900, prop::collection::vec((1i64..200, statut), 0..6)).prop_map(|(start, steps)| {
            let mut date = day(2024, 1, 1) + chrono::Duration::days(start);
            let mut points: Vec<ChangePoint> = Vec::new();
            for (gap, statut) in steps {
                if points.last().is_some_and(|p| p.statut == statut) {
                    continue;
                }
                points.push(point(date, statut));
                date += chrono::Duration::days(gap);
            }
            points
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// On every day of the window, the segment covering it carries the status and band of that day;
        /// outside the window, or before the first point, nothing covers it.
        #[test]
        fn segments_tell_the_status_and_band_of_every_day(
            parcours in any_parcours(),
            naissance_offset in 0i64..8000,
            school in any::<bool>(),
            offset in -40i64..420,
        ) {
            let annee = if school { annee("2025-2026") } else { annee("2025-2025") };
            let naissance = day(1998, 1, 1) + chrono::Duration::days(naissance_offset);
            let found = segments(&annee, naissance, &parcours);
            let (first, last) = fenetre(&annee);
            let date = first + chrono::Duration::days(offset);
            let expected = if date < first || date > last {
                None
            } else {
                statut_at(&parcours, date).map(|s| (s, Tranche::at(naissance, date)))
            };
            prop_assert_eq!(at(&found, date).map(|s| (s.statut, s.tranche)), expected);
            for pair in found.windows(2) {
                prop_assert_eq!(pair[0].fin, pair[1].debut);
                prop_assert_ne!((pair[0].statut, pair[0].tranche), (pair[1].statut, pair[1].tranche));
            }
        }
    }
}
