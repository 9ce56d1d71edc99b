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
    academie: Option<String>,
    /// `UAI:SIRET`.
    organisme: Option<String>,
    /// CFD or RNCP.
    formation: Option<String>,
    annee_formation: Option<String>,
    /// Of the export: `xlsx` or `csv`.
    format: Option<String>,
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

/// A question of the dashboard, read and checked, its filter within the reader's perimeter.
struct Demande {
    date: NaiveDate,
    compte: &'static str,
    par: &'static str,
    maille: Maille,
    connu: Option<DateTime<Utc>>,
    filtre: Filtre,
}

impl Demande {
    /// The grouping of the table.
    fn table(&self) -> Dimension {
        match self.par {
            "formation" => Dimension::Formation,
            "niveau" => Dimension::Niveau,
            _ => Dimension::Organisme,
        }
    }
}

/// The signed-in reader and their question; else the page to answer with (a value that is none is
/// refused, naming its field).
async fn demande(
    state: &AppState,
    headers: &HeaderMap,
    question: &Question,
) -> Result<(crate::auth::comptes::Session, Demande), Response> {
    let session = match session_of(state, headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(redirect("/console/connexion", Vec::new())),
        Err(error) => return Err(internal(error)),
    };
    let viewer = Viewer::Key(session.principal.clone());
    let refus = |message: String| render(StatusCode::BAD_REQUEST, &super::pages::Refus::libre(message));
    let date = match question.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => Utc::now().date_naive(),
        Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(date) => date,
            Err(_) => return Err(refus(format!("date : {d:?} n'est pas une date (AAAA-MM-JJ)"))),
        },
    };
    let niveau = match question.niveau.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        None => None,
        Some(n) => match n.parse::<i16>() {
            Ok(niveau) if (0..=8).contains(&niveau) => Some(niveau),
            _ => return Err(refus(format!("niveau : {n:?} n'est pas un niveau de 0 à 8"))),
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
    let annee = match question.annee_formation.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => match a.parse::<i32>() {
            Ok(annee) => Some(vec![annee]),
            Err(_) => return Err(refus(format!("annee_formation : {a:?} n'est pas une année de formation"))),
        },
    };
    // Checked as GraphQL's filter is: a value that is none is refused, naming its field.
    let liste = |v: &Option<String>| {
        Some(v.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect::<Vec<_>>())
            .filter(|l| !l.is_empty())
    };
    let graphql = crate::graphql::indicateurs::IndicateursFiltre {
        regions: liste(&question.region),
        departements: liste(&question.departement),
        academies: liste(&question.academie),
        organismes: liste(&question.organisme),
        formations: liste(&question.formation),
        niveaux: niveau.map(|n| vec![i32::from(n)]),
        annees_formation: annee,
        ..Default::default()
    };
    let mut asked = match graphql.parse() {
        Ok(asked) => asked,
        Err(error) => return Err(refus(error.message)),
    };
    asked.tranches =
        Tranche::ALL.into_iter().filter(|t| Some(t.as_str()) == question.tranche.as_deref()).collect();
    let filtre = match viewer.perimetre(&state.pool).await.and_then(|p| p.restrict(asked, false)) {
        Ok(filtre) => filtre,
        Err(error) => return Err(super::pages::refus_acces(error)),
    };
    let connu = match question.connu.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match instant(c) {
            Some(instant) => Some(instant),
            None => return Err(refus(format!("connu : {c:?} n'est pas un instant (AAAA-MM-JJTHH:MM)"))),
        },
    };
    Ok((session, Demande { date, compte, par, maille, connu, filtre }))
}

/// The answers to `questions`: of the read model now (through the answers GraphQL keeps too, all at
/// one position), or of the log as known at `connu`.
async fn compter(
    state: &AppState,
    connu: Option<DateTime<Utc>>,
    questions: &[(NaiveDate, Dimension, &Filtre)],
) -> Result<Vec<Vec<Groupe>>, sqlx::Error> {
    let Some(instant) = connu else {
        let answers = state.indicateurs.ensemble(&state.pool, questions).await?;
        return Ok(answers.iter().map(|a| a.as_ref().clone()).collect());
    };
    let mut answers = Vec::with_capacity(questions.len());
    for (date, dimension, filtre) in questions {
        answers.push(connu::indicateurs(&state.pool, instant, *date, *dimension, filtre).await?.1);
    }
    Ok(answers)
}

pub(super) async fn tableau_de_bord(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(question): Query<Question>,
) -> Response {
    let (session, d) = match demande(&state, &headers, &question).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Demande { date, compte, par, maille, connu, ref filtre } = d;
    let dimension = if maille == Maille::Region { Dimension::Region } else { Dimension::Departement };
    let table = d.table();
    let fins = fins_de_mois(date);
    let mut questions =
        vec![(date, Dimension::National, filtre), (date, dimension, filtre), (date, table, filtre)];
    questions.extend(fins.iter().map(|fin| (*fin, Dimension::National, filtre)));
    let mut answers = match compter(&state, connu, &questions).await {
        Ok(answers) => answers.into_iter(),
        Err(error) => return internal(error),
    };
    let mut next = || answers.next().unwrap_or_default();
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
    let encode = |v: &Option<String>| -> String {
        form_urlencoded::byte_serialize(v.as_deref().unwrap_or("").as_bytes()).collect()
    };
    let filtres = format!(
        "region={}&departement={}&academie={}&organisme={}&formation={}&niveau={}&tranche={}&annee_formation={}",
        encode(&question.region),
        encode(&question.departement),
        encode(&question.academie),
        encode(&question.organisme),
        encode(&question.formation),
        encode(&question.niveau),
        encode(&question.tranche),
        encode(&question.annee_formation),
    );
    let export = format!("/console/indicateurs/export?date={date}&par={par}{connu_param}&{filtres}");
    // A row of the table filters by its group, the table then by the next grouping.
    let suivant = match par {
        "organisme" => "formation",
        "formation" => "niveau",
        _ => "organisme",
    };
    let sans =
        filtres.split('&').filter(|f| !f.starts_with(&format!("{par}="))).collect::<Vec<_>>().join("&");
    let lien_ligne =
        format!("/console/indicateurs?date={date}&compte={compte}&par={suivant}{connu_param}&{sans}&{par}=");
    lignes.sort_by_key(|g| std::cmp::Reverse(valeur(g, compte)));
    lignes.truncate(LIGNES);
    let max = mois.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let mois = mois
        .into_iter()
        .map(|(fin, n)| Mois { libelle: fin.format("%m/%Y").to_string(), valeur: n, hauteur: n * 100 / max })
        .collect();
    let page = Tableau {
        export,
        lien_ligne,
        nav: super::pages::Nav::of(&session),
        date: date.to_string(),
        compte,
        comptes: COMPTES.to_vec(),
        par,
        pars: PAR.to_vec(),
        region: question.region.unwrap_or_default(),
        departement: question.departement.unwrap_or_default(),
        niveau: question.niveau.unwrap_or_default(),
        tranche: question.tranche.unwrap_or_default(),
        academie: question.academie.unwrap_or_default(),
        organisme: question.organisme.unwrap_or_default(),
        formation: question.formation.unwrap_or_default(),
        annee_formation: question.annee_formation.unwrap_or_default(),
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

const COLONNES: [&str; 7] =
    ["code", "libellé", "apprentis", "inscrits sans contrat", "rupturants", "abandons", "apprenants"];

/// The dashboard's table (every group, by organisme, formation or niveau) as a spreadsheet.
pub(super) async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(question): Query<Question>,
) -> Response {
    use axum::response::IntoResponse;
    let format = match crate::http::fichiers::format(question.format.as_deref()) {
        Ok(format) => format,
        Err(error) => return error.into_response(),
    };
    let (_, d) = match demande(&state, &headers, &question).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let groupes = match compter(&state, d.connu, &[(d.date, d.table(), &d.filtre)]).await {
        Ok(mut answers) => answers.pop().unwrap_or_default(),
        Err(error) => return internal(error),
    };
    let rows: Vec<Vec<String>> = groupes
        .into_iter()
        .map(|g| {
            let mut row = vec![g.cle.clone(), g.libelle.clone().unwrap_or_default()];
            row.extend(COMPTES.iter().map(|(c, _)| valeur(&g, c).to_string()));
            row
        })
        .collect();
    let name = format!("indicateurs-{}-par-{}", d.date, d.par);
    crate::http::fichiers::reponse(&format, &name, &COLONNES, &rows, &[("", "Indicateurs")])
        .unwrap_or_else(IntoResponse::into_response)
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
