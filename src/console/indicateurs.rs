//! The analyst's dashboard (domain.md §14, §6): the five counts à date with a date picker and filters,
//! a map of France by département or région coloured by a chosen count (each territory a link that
//! filters by it), the evolution over the school year (the count at the end of each month), and the
//! table by organisme, formation or niveau. Answered like GraphQL's `indicateurs` (the application's
//! `IndicateursCache`, over `projections::indicateurs`), within the reader's perimeter, every figure
//! of the page of the read model at one position.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, Utc};
use projections::indicateurs::{Dimension, Filtre, Groupe, Tranche, connu};
use serde::Deserialize;

use super::carte::{self, Maille};
use super::pages::{Colonne, Mois, Tableau, internal, render};
use super::web::{redirect, session_of};
use crate::app::AppState;
use crate::auth::viewer::Viewer;

/// The counts one can colour the map by.
pub const COMPTES: [(&str, &str); 5] = [
    ("apprentis", "Apprentis"),
    ("inscrits", "Inscrits sans contrat"),
    ("rupturants", "Rupturants"),
    ("abandons", "Abandons"),
    ("apprenants", "Apprenants"),
];

/// The groupings of the table.
pub const PAR: [(&str, &str); 3] =
    [("organisme", "Organisme"), ("formation", "Formation"), ("niveau", "Niveau")];

/// Rows of the table shown at most (the largest first).
const LIGNES: usize = 50;

/// An instant as the form gives it (`YYYY-MM-DDTHH:MM`, UTC) or in RFC 3339.
fn instant(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").ok().map(|t| t.and_utc()))
}

#[derive(Deserialize, Default)]
pub(super) struct Question {
    /// "As known at" this instant (UTC).
    connu: Option<String>,
    date: Option<String>,
    compte: Option<String>,
    par: Option<String>,
    maille: Option<String>,
    region: Option<String>,
    departement: Option<String>,
    niveau: Option<String>,
    tranche: Option<String>,
}

pub fn valeur(g: &Groupe, compte: &str) -> i64 {
    match compte {
        "inscrits" => g.inscrits,
        "rupturants" => g.rupturants,
        "abandons" => g.abandons,
        "apprenants" => g.apprenants,
        _ => g.apprentis,
    }
}

/// The last day of each month of `date`'s school year up to `date` (the school year starts on 1 August).
fn fins_de_mois(date: NaiveDate) -> Vec<NaiveDate> {
    let debut = NaiveDate::from_ymd_opt(if date.month() >= 8 { date.year() } else { date.year() - 1 }, 8, 1)
        .expect("1 August");
    let mut fins = Vec::new();
    let mut mois = debut;
    while mois <= date {
        let fin = mois.checked_add_months(Months::new(1)).expect("a later month").pred_opt().expect("a day");
        fins.push(fin.min(date));
        mois = mois.checked_add_months(Months::new(1)).expect("a later month");
    }
    fins
}

pub(super) async fn tableau_de_bord(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(question): Query<Question>,
) -> Response {
    let session = match session_of(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return redirect("/console/connexion", Vec::new()),
        Err(error) => return internal(error),
    };
    let viewer = Viewer::Key(session.principal.clone());
    let today = Utc::now().date_naive();
    let refus = |message: String| render(StatusCode::BAD_REQUEST, &super::pages::Refus::libre(message));
    let date = match question.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => today,
        Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(date) => date,
            Err(_) => return refus(format!("date : {d:?} n'est pas une date (AAAA-MM-JJ)")),
        },
    };
    let niveau = match question.niveau.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        None => None,
        Some(n) => match n.parse::<i16>() {
            Ok(niveau) if (0..=8).contains(&niveau) => Some(niveau),
            _ => return refus(format!("niveau : {n:?} n'est pas un niveau de 0 à 8")),
        },
    };
    let compte = COMPTES
        .iter()
        .map(|(c, _)| *c)
        .find(|c| Some(*c) == question.compte.as_deref())
        .unwrap_or("apprentis");
    let par =
        PAR.iter().map(|(p, _)| *p).find(|p| Some(*p) == question.par.as_deref()).unwrap_or("organisme");
    let maille =
        if question.maille.as_deref() == Some("region") { Maille::Region } else { Maille::Departement };
    let asked = Filtre {
        regions: question.region.iter().filter(|r| !r.is_empty()).cloned().collect(),
        departements: question.departement.iter().filter(|d| !d.is_empty()).cloned().collect(),
        niveaux: niveau.into_iter().collect(),
        tranches: Tranche::ALL
            .into_iter()
            .filter(|t| Some(t.as_str()) == question.tranche.as_deref())
            .collect(),
        ..Filtre::default()
    };
    let perimetre = match viewer.perimetre(&state.pool).await {
        Ok(perimetre) => perimetre,
        Err(error) => return internal(format!("{error:?}")),
    };
    let filtre = match perimetre.restrict(asked, false) {
        Ok(filtre) => filtre,
        Err(error) => return super::pages::refus_acces(error),
    };
    let connu = question.connu.as_deref().and_then(instant);
    let dimension = if maille == Maille::Region { Dimension::Region } else { Dimension::Departement };
    let table = match par {
        "formation" => Dimension::Formation,
        "niveau" => Dimension::Niveau,
        _ => Dimension::Organisme,
    };
    let fins = fins_de_mois(date);
    let mut questions =
        vec![(date, Dimension::National, &filtre), (date, dimension, &filtre), (date, table, &filtre)];
    questions.extend(fins.iter().map(|fin| (*fin, Dimension::National, &filtre)));
    let counted = async {
        // The read model now, through the answers GraphQL keeps too, or the log as known at an instant.
        let Some(instant) = connu else {
            return state.indicateurs.ensemble(&state.pool, &questions).await;
        };
        let mut answers = Vec::with_capacity(questions.len());
        for (date, dimension, filtre) in &questions {
            let (_, groupes) = connu::indicateurs(&state.pool, instant, *date, *dimension, filtre).await?;
            answers.push(std::sync::Arc::new(groupes));
        }
        Ok::<_, sqlx::Error>(answers)
    };
    let answers = match counted.await {
        Ok(answers) => answers,
        Err(error) => return internal(error),
    };
    let mut answers = answers.into_iter();
    let mut next = || answers.next().map(|a| a.as_ref().clone()).unwrap_or_default();
    let (national, territoires, mut lignes) = (next(), next(), next());
    let mois: Vec<(NaiveDate, i64)> =
        fins.iter().map(|fin| (*fin, next().first().map(|g| valeur(g, compte)).unwrap_or(0))).collect();
    let figures: HashMap<String, i64> =
        territoires.iter().map(|g| (g.cle.clone(), valeur(g, compte))).collect();
    let libelle = COMPTES.iter().find(|(c, _)| *c == compte).map_or("", |(_, l)| l);
    let connu_param = connu.map(|t| format!("&connu={}", t.format("%Y-%m-%dT%H:%M"))).unwrap_or_default();
    let lien = format!(
        "/console/indicateurs?date={date}&compte={compte}&par={par}{connu_param}&maille={}&{}=",
        if maille == Maille::Region { "region" } else { "departement" },
        if maille == Maille::Region { "region" } else { "departement" },
    );
    let carte = carte::svg(maille, &figures, libelle, &lien);
    lignes.sort_by_key(|g| std::cmp::Reverse(valeur(g, compte)));
    lignes.truncate(LIGNES);
    let max = mois.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let mois = mois
        .into_iter()
        .map(|(fin, n)| Mois { libelle: fin.format("%m/%Y").to_string(), valeur: n, hauteur: n * 100 / max })
        .collect();
    let page = Tableau {
        email: session.email.clone(),
        date: date.to_string(),
        compte,
        comptes: COMPTES.to_vec(),
        par,
        pars: PAR.to_vec(),
        region: question.region.unwrap_or_default(),
        departement: question.departement.unwrap_or_default(),
        niveau: question.niveau.unwrap_or_default(),
        tranche: question.tranche.unwrap_or_default(),
        maille_region: maille == Maille::Region,
        connu: connu.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default(),
        national: national.into_iter().next().unwrap_or_default(),
        carte,
        legende: carte::legende(&figures),
        territoires: territoires.into_iter().map(Colonne::of).collect(),
        lignes: lignes.into_iter().map(Colonne::of).collect(),
        mois,
    };
    render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_months_of_a_school_year_end_on_their_last_day_up_to_the_date() {
        let day = |s: &str| s.parse::<chrono::NaiveDate>().expect("a day");
        let fins = super::fins_de_mois(day("2026-10-15"));
        assert_eq!(fins, [day("2026-08-31"), day("2026-09-30"), day("2026-10-15")]);
        assert_eq!(super::fins_de_mois(day("2027-02-28")).len(), 7);
    }
}
