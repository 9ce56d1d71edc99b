//! The analyst's Affelnet / Parcoursup funnel by académie (domain.md §14, §8): for a campaign, the
//! vœux, the candidates, those enrolled at an organisme they targeted, those who became apprentices and
//! those still under contract after 90 days, with the rates; counted by the function GraphQL's
//! `funnel` counts with, within the reader's perimeter.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Datelike, Utc};
use events::domain::territoire::academie_nom;
use projections::voeux::query::{self, Campagne, Dimension, Filtre};
use serde::Deserialize;

use super::pages::{Refus, internal, render};
use super::web::{redirect, session_of};
use crate::app::AppState;
use crate::auth::viewer::{AccessError, Viewer};

/// Days under contract that count a kept apprentice (GraphQL's default).
const JOURS: i32 = 90;

struct Ligne {
    academie: String,
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
    email: String,
    source: &'static str,
    rentree: i32,
    lignes: Vec<Ligne>,
}

#[derive(Deserialize)]
pub(super) struct Question {
    source: Option<String>,
    rentree: Option<i32>,
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
    let (source, nom) = match question.source.as_deref() {
        Some("PARCOURSUP") => (events::voeu::Source::Parcoursup, "PARCOURSUP"),
        _ => (events::voeu::Source::Affelnet, "AFFELNET"),
    };
    let rentree = question.rentree.filter(|r| (2000..=2100).contains(r)).unwrap_or(today.year());
    let campagne = Campagne { source, rentree };
    let groupes = match state.pool.acquire().await {
        Ok(mut conn) => query::funnel(&mut conn, campagne, Dimension::Academie, &filtre, today, JOURS).await,
        Err(error) => return internal(error),
    };
    let lignes = match groupes {
        Ok(groupes) => groupes
            .into_iter()
            .map(|g| Ligne {
                academie: academie_nom(&g.cle)
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
    render(StatusCode::OK, &Entonnoir { email: session.email.clone(), source: nom, rentree, lignes })
}
