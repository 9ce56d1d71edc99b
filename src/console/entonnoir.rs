//! The analyst's Affelnet / Parcoursup funnel (domain.md §14, §8): for a campaign, by académie,
//! région, organisme or formation, the vœux, the candidates, those enrolled at an organisme they
//! targeted, those who became apprentices and those still under contract after 90 days, with the
//! rates; counted by the function GraphQL's `funnel` counts with, within the reader's perimeter. And,
//! for those whose role reads names (académies, DREETS, administrators, auditors), the candidates whose
//! vœux did not turn into an apprenticeship, with their contacts, and their export.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Datelike, Utc};
use events::domain::territoire::{academie_nom, region_nom};
use projections::voeux::query::{self, Campagne, Dimension, Filtre, NonConcretise};
use serde::Deserialize;

use super::pages::{Refus, internal, refus_acces, render};
use super::web::{autorise, redirect, session_of};
use crate::app::AppState;
use crate::app::voeux as app_voeux;
use crate::auth::viewer::{AccessError, Viewer};

/// Days under contract that count a kept apprentice (GraphQL's default).
const JOURS: i32 = 90;

struct Ligne {
    libelle: String,
    voeux: i64,
    candidats: i64,
    inscrits: i64,
    apprentis: i64,
    maintenus: i64,
    conversion: String,
}

#[derive(Template)]
#[template(path = "console/entonnoir.html")]
struct Entonnoir {
    nav: super::pages::Nav,
    source: &'static str,
    rentree: i32,
    par: &'static str,
    pars: [(&'static str, &'static str); 4],
    lignes: Vec<Ligne>,
    /// The reader may list the candidates "non concrétisés".
    nominatif: bool,
}

/// The groupings of the funnel: (parameter, name).
const PARS: [(&str, &str); 4] =
    [("academie", "Académie"), ("region", "Région"), ("organisme", "Organisme"), ("formation", "Formation")];

#[derive(Deserialize)]
pub(super) struct Question {
    source: Option<String>,
    rentree: Option<i32>,
    par: Option<String>,
}

/// The campaign asked (Affelnet and this year by default) and its source's name.
fn campagne(source: Option<&str>, rentree: Option<i32>) -> (Campagne, &'static str) {
    let (source, nom) = match source {
        Some("PARCOURSUP") => (events::voeu::Source::Parcoursup, "PARCOURSUP"),
        _ => (events::voeu::Source::Affelnet, "AFFELNET"),
    };
    let rentree = rentree.filter(|r| (2000..=2100).contains(r)).unwrap_or(Utc::now().date_naive().year());
    (Campagne { source, rentree }, nom)
}

fn taux(part: i64, tout: i64) -> String {
    if tout == 0 { "—".into() } else { format!("{:.1} %", part as f64 * 100.0 / tout as f64) }
}

pub(super) async fn entonnoir(
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
    let filtre = match viewer.perimetre(&state.pool).await.and_then(|p| p.restrict_voeux(Filtre::default())) {
        Ok(filtre) => filtre,
        Err(AccessError::Database(error)) => return internal(error),
        Err(_) => {
            return render(StatusCode::FORBIDDEN, &Refus::new("Votre périmètre ne comprend pas les vœux."));
        }
    };
    let today = Utc::now().date_naive();
    let (campagne, nom) = campagne(question.source.as_deref(), question.rentree);
    let (par, dimension) = match question.par.as_deref() {
        Some("region") => ("region", Dimension::Region),
        Some("organisme") => ("organisme", Dimension::Organisme),
        Some("formation") => ("formation", Dimension::Formation),
        _ => ("academie", Dimension::Academie),
    };
    let compte = async {
        let mut conn = state.pool.acquire().await?;
        let groupes = query::funnel(&mut conn, campagne, dimension, &filtre, today, JOURS).await?;
        let cles: Vec<String> = groupes.iter().map(|g| g.cle.clone()).collect();
        let libelles = query::libelles(&mut conn, campagne, dimension, &cles).await?;
        Ok::<_, sqlx::Error>((groupes, libelles))
    };
    let lignes = match compte.await {
        Ok((groupes, libelles)) => groupes
            .into_iter()
            .map(|g| Ligne {
                libelle: match (dimension, libelles.get(&g.cle)) {
                    (Dimension::Academie, _) => academie_nom(&g.cle).map(str::to_owned),
                    (Dimension::Region, _) => region_nom(&g.cle).map(str::to_owned),
                    (_, nom) => nom.cloned(),
                }
                .map_or_else(|| g.cle.clone(), |nom| format!("{nom} ({})", g.cle)),
                conversion: taux(g.apprentis, g.candidats),
                voeux: g.voeux,
                candidats: g.candidats,
                inscrits: g.inscrits,
                apprentis: g.apprentis,
                maintenus: g.maintenus,
            })
            .collect(),
        Err(error) => return internal(error),
    };
    let nominatif = viewer.voeux_academies(&[]).is_ok();
    let (source, rentree) = (nom, campagne.rentree);
    let page = Entonnoir {
        nav: super::pages::Nav::of(&session),
        source,
        rentree,
        par,
        pars: PARS,
        lignes,
        nominatif,
    };
    render(StatusCode::OK, &page)
}

/// Candidates per page.
const CANDIDATS: i64 = 100;
/// Candidates in an export at most.
const EXPORT_MAX: i64 = 20_000;

#[derive(Deserialize)]
pub(super) struct Candidats {
    source: Option<String>,
    rentree: Option<i32>,
    academie: Option<String>,
    apres: Option<String>,
    format: Option<String>,
}

/// A candidate as the list shows them: identity and contacts as their first vœu's file gave them.
struct Candidat {
    nom: String,
    naissance: String,
    telephone: String,
    email: String,
    responsable: String,
    code_postal: String,
    etape: &'static str,
    voeux: Vec<String>,
}

impl Candidat {
    fn of(c: &NonConcretise) -> Option<Self> {
        let who = c.voeux.first()?;
        let texte = |v: &Option<String>| v.clone().unwrap_or_default();
        let responsable: Vec<String> = [&who.telephone_responsable, &who.email_responsable]
            .into_iter()
            .filter_map(Clone::clone)
            .collect();
        Some(Candidat {
            nom: format!("{} {}", who.nom, who.prenoms),
            naissance: who.date_de_naissance.map(|d| d.format("%d/%m/%Y").to_string()).unwrap_or_default(),
            telephone: texte(&who.telephone),
            email: texte(&who.email),
            responsable: responsable.join(", "),
            code_postal: texte(&who.code_postal),
            etape: if c.inscrit { "Inscrit sans contrat" } else { "Candidat" },
            voeux: c
                .voeux
                .iter()
                .map(|v| {
                    let rang = v.rang.map(|r| format!("{r}. ")).unwrap_or_default();
                    let formation = v.libelle_formation.clone().unwrap_or_else(|| v.formation.clone());
                    let inscrit = if v.dossier_id.is_some() { " (inscrit)" } else { "" };
                    format!("{rang}{formation} — {}{inscrit}", v.uai_formateur)
                })
                .collect(),
        })
    }
}

#[derive(Template)]
#[template(path = "console/non_concretises.html")]
struct NonConcretises {
    nav: super::pages::Nav,
    source: &'static str,
    rentree: i32,
    academie: String,
    candidats: Vec<Candidat>,
    suivant: Option<String>,
}

/// The page of candidates asked, with whether more follow; else the page to answer with.
async fn candidats(
    state: &AppState,
    headers: &HeaderMap,
    question: &Candidats,
    first: i64,
) -> Result<(crate::auth::comptes::Session, Campagne, &'static str, Vec<NonConcretise>, bool), Response> {
    let refus = "Votre rôle ne donne pas accès aux candidats nommément.";
    let (session, viewer, _) = autorise(state, headers, |v| v.voeux_academies(&[]), refus).await?;
    let (campagne, nom) = campagne(question.source.as_deref(), question.rentree);
    let asked: Vec<String> =
        question.academie.iter().map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect();
    let today = Utc::now().date_naive();
    let apres = question.apres.as_deref().filter(|a| !a.is_empty());
    match app_voeux::non_concretises(
        &state.pool,
        &state.journal,
        &viewer,
        campagne,
        &asked,
        today,
        app_voeux::Page { first, after: apres },
    )
    .await
    {
        Ok((page, more)) => Ok((session, campagne, nom, page, more)),
        Err(error) => Err(refus_acces(error)),
    }
}

pub(super) async fn non_concretises(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(question): Query<Candidats>,
) -> Response {
    let (session, campagne, source, page, more) =
        match candidats(&state, &headers, &question, CANDIDATS).await {
            Ok(found) => found,
            Err(page) => return page,
        };
    let suivant = if more { page.last().map(|c| c.candidat.clone()) } else { None };
    let page = NonConcretises {
        nav: super::pages::Nav::of(&session),
        source,
        rentree: campagne.rentree,
        academie: question.academie.clone().unwrap_or_default(),
        candidats: page.iter().filter_map(Candidat::of).collect(),
        suivant,
    };
    render(StatusCode::OK, &page)
}

const COLONNES: [&str; 9] = [
    "candidat",
    "étape",
    "nom",
    "date de naissance",
    "téléphone",
    "e-mail",
    "responsable légal",
    "code postal",
    "vœux",
];

pub(super) async fn export_non_concretises(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(question): Query<Candidats>,
) -> Response {
    use axum::response::IntoResponse;
    let format = match crate::http::fichiers::format(question.format.as_deref()) {
        Ok(format) => format,
        Err(error) => return error.into_response(),
    };
    let (_, campagne, source, page, _) = match candidats(&state, &headers, &question, EXPORT_MAX).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let rows: Vec<Vec<String>> = page
        .iter()
        .filter_map(|c| {
            let shown = Candidat::of(c)?;
            Some(vec![
                c.candidat.clone(),
                shown.etape.to_owned(),
                shown.nom,
                shown.naissance,
                shown.telephone,
                shown.email,
                shown.responsable,
                shown.code_postal,
                shown.voeux.join(" ; "),
            ])
        })
        .collect();
    let name = format!("non-concretises-{}-{}", source.to_lowercase(), campagne.rentree);
    crate::http::fichiers::reponse(&format, &name, &COLONNES, &rows, &[("", "Non concrétisés")])
        .unwrap_or_else(IntoResponse::into_response)
}
