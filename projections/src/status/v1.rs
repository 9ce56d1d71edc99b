//! Rule set 1: domain.md §5, step by step, over the days of the range. Written for clarity first: each
//! numbered step below is the rule of the same number.

use chrono::{Duration, NaiveDate};

use super::{ChangePoint, ContratFaits, Faits, Statut};

/// Days without a contract, ever, before the 91st becomes ABANDON.
const SANS_CONTRAT_MAX: u32 = 90;
/// Days without a contract, after one, before the 181st becomes ABANDON.
const APRES_CONTRAT_MAX: u32 = 180;
/// A natural end this close to the session end ends the formation there.
const FIN_NATURELLE_MAX: i64 = 60;

/// A contract's effective last day: the day before its rupture, else its end, else the session end;
/// never after the session end.
fn last_day(contrat: &ContratFaits, session_fin: NaiveDate) -> NaiveDate {
    let last = match contrat.rupture {
        Some(rupture) => rupture - Duration::days(1),
        None => contrat.fin.unwrap_or(session_fin),
    };
    last.min(session_fin)
}

/// Two contracts starting the same day are one; the later one's information wins.
fn distinct(contrats: &[ContratFaits]) -> Vec<ContratFaits> {
    let mut by_start: Vec<ContratFaits> = Vec::with_capacity(contrats.len());
    for contrat in contrats {
        match by_start.iter_mut().find(|c| c.debut == contrat.debut) {
            Some(same) => *same = *contrat,
            None => by_start.push(*contrat),
        }
    }
    by_start
}

pub(super) fn parcours(faits: &Faits) -> Vec<ChangePoint> {
    let contrats = distinct(&faits.contrats);
    // 1. The range: from the earliest of the session start and the contract starts, to the session end.
    let start = contrats.iter().map(|c| c.debut).fold(faits.entree, NaiveDate::min);
    let end = faits.fin;
    if end < start {
        return Vec::new();
    }
    let len = (end - start).num_days() as usize + 1;
    let index = |date: NaiveDate| (date - start).num_days();
    // 2. Every day starts INSCRIT.
    let mut days = vec![Statut::Inscrit; len];
    // 3. Each contract's days, from its start to its effective last day, are APPRENTI.
    for contrat in &contrats {
        let (from, to) = (index(contrat.debut), index(last_day(contrat, end)));
        for day in from.max(0)..=to.min(len as i64 - 1) {
            days[day as usize] = Statut::Apprenti;
        }
    }
    // 4. From the exclusion to the session end, every day is ABANDON.
    if let Some(exclusion) = faits.exclusion {
        for day in index(exclusion).max(0)..len as i64 {
            days[day as usize] = Statut::Abandon;
        }
    }
    // 5. The days left INSCRIT become RUPTURANT or ABANDON by how long they have been without contract.
    let mut has_contract = false;
    let mut without = 0u32;
    for day in days.iter_mut() {
        if *day == Statut::Apprenti {
            has_contract = true;
            without = 0;
            continue;
        }
        without += 1;
        if *day == Statut::Inscrit {
            *day = match (has_contract, without) {
                (true, n) if n <= APRES_CONTRAT_MAX => Statut::Rupturant,
                (false, n) if n <= SANS_CONTRAT_MAX => Statut::Inscrit,
                _ => Statut::Abandon,
            };
        }
    }
    // 6. The last session day as it stands now.
    let last_before_end = days[len - 1];
    // 7. The terminal contract: the latest effective last day; on a tie, one with a rupture.
    let terminal = contrats.iter().max_by_key(|c| (last_day(c, end), c.rupture.is_some()));
    let natural_end = faits.exclusion.is_none() && terminal.is_some_and(|c| c.rupture.is_none());
    // 8. A natural end close to the session end: no "fake ruptures" after it.
    if let Some(terminal) = terminal.filter(|_| natural_end) {
        let terminal_last = last_day(terminal, end);
        if (end - terminal_last).num_days() <= FIN_NATURELLE_MAX {
            for day in (index(terminal_last) + 1).max(0)..len as i64 {
                let day = &mut days[day as usize];
                if matches!(day, Statut::Inscrit | Statut::Rupturant) {
                    *day = Statut::FinDeFormation;
                }
            }
        }
    }
    // 9. The last session day ends the formation, unless it was left RUPTURANT or ABANDON.
    if matches!(last_before_end, Statut::Apprenti | Statut::Inscrit) || natural_end {
        days[len - 1] = Statut::FinDeFormation;
    }
    // 10. Consecutive equal days become one change point.
    let mut points: Vec<ChangePoint> = Vec::new();
    for (offset, statut) in days.into_iter().enumerate() {
        if points.last().is_none_or(|p| p.statut != statut) {
            points.push(ChangePoint { date: start + Duration::days(offset as i64), statut });
        }
    }
    points
}
