//! The people's console (domain.md §14): server-rendered pages in French, served by `tba` itself under
//! `/console`, for the people who cannot use GraphQL. A person signs in with their account
//! (`auth::comptes`); a signed-in person is a `Principal` like an API key, so the pages read through
//! the same query functions and access rules as the GraphQL resolvers.
//!
//! Sessions live in PostgreSQL; the cookie (`tba_session`) is `HttpOnly`, `SameSite=Lax`, `Secure`
//! when the request came over TLS (`X-Forwarded-Proto: https` from the proxy in front). Every form
//! carries a CSRF token: the session's once signed in, before it a random one also set as a cookie
//! (`tba_csrf`, double submit). Pages may only load what this server serves (Content-Security-Policy
//! `'self'`), and are never cached.

pub mod administration;
mod audit;
mod carte;
mod cfa;
mod cles;
mod comptes;
mod connexion;
pub mod depot;
mod dossiers;
mod dsfr;
mod entonnoir;
mod fiche;
mod flux;
mod france_travail;
mod indicateurs;
mod pages;
mod ruptures;
mod suivi;
mod web;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::AppState;
use connexion::{
    accueil, connexion, connexion_page, deconnexion, deconnexion_partout, mot_de_passe, mot_de_passe_page,
};

const CSS: &str = include_str!("static/console.css");
const JS: &str = include_str!("static/console.js");

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/console", get(accueil))
        .route("/console/connexion", get(connexion_page).post(connexion))
        .route("/console/deconnexion", post(deconnexion))
        .route("/console/deconnexion-partout", post(deconnexion_partout))
        .route("/console/mot-de-passe/{jeton}", get(mot_de_passe_page).post(mot_de_passe))
        .route("/console/indicateurs", get(indicateurs::tableau_de_bord))
        .route("/console/entonnoir", get(entonnoir::entonnoir))
        .route("/console/effectifs", get(cfa::effectifs))
        .route("/console/depot", get(depot::page))
        .route("/console/cles", get(cles::liste).post(cles::creer))
        .route("/console/cles/revoquer", post(cles::revoquer))
        .route("/console/transmissions/{id}/rejets.csv", get(depot::rapport))
        .route("/console/france-travail", get(france_travail::file))
        .route("/console/france-travail/{entree}", get(france_travail::fiche))
        .route("/console/france-travail/{entree}/situation", post(france_travail::qualifier))
        .route("/console/audit", get(audit::audit))
        .route("/console/audit/preuve", get(audit::preuve))
        .route("/console/transmissions", get(cfa::transmissions))
        .route("/console/comptes", get(comptes::liste).post(comptes::inviter))
        .route("/console/comptes/lien", post(comptes::reinitialiser))
        .route("/console/comptes/desactiver", post(comptes::desactiver))
        .route("/console/administration", get(administration::administration))
        .route("/console/administration/cles", post(administration::creer_cle))
        .route("/console/administration/cles/{id}/revoquer", post(administration::revoquer))
        .route("/console/entonnoir/non-concretises", get(entonnoir::non_concretises))
        .route("/console/entonnoir/non-concretises/export", get(entonnoir::export_non_concretises))
        .route("/console/indicateurs/export", get(indicateurs::export))
        .route("/console/dossiers", get(dossiers::liste))
        .route("/console/dossiers/export", get(dossiers::export))
        .route("/console/dossiers/{id}", get(dossiers::fiche))
        .route("/console/dossiers/{id}/rupture", post(dossiers::declarer))
        .route("/console/ruptures", get(ruptures::file))
        .route("/console/ruptures/flux", get(flux::flux))
        .route("/console/ruptures/export", get(ruptures::export))
        .route("/console/ruptures/{entree}", get(ruptures::fiche))
        .route("/console/ruptures/{entree}/situation", post(ruptures::qualifier))
        .route("/console/ruptures/{entree}/message", post(suivi::message))
        .route("/console/ruptures/{entree}/lu", post(suivi::lu))
        .route("/console/ruptures/{entree}/suivi-conjoint", post(suivi::suivi_conjoint))
        .route("/console/ruptures/{entree}/refus", post(suivi::refus))
        .route("/console/static/console.css", get(css))
        .route("/console/static/dsfr-1.13.0/{*chemin}", get(dsfr::fichier))
        .route("/console/static/console.js", get(js))
        .with_state(state)
        .layer(axum::middleware::map_response(securise))
        .layer(tower_http::compression::CompressionLayer::new())
}

/// What every console response carries: nothing loaded from elsewhere, never framed, never cached
/// (assets excepted).
async fn securise(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed = [
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn css() -> Response {
    let headers = [(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "public, max-age=86400")];
    (headers, CSS).into_response()
}

async fn js() -> Response {
    let headers =
        [(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=86400")];
    (headers, JS).into_response()
}
