//! The console's pages: templates checked at compile time (askama, `templates/console/`), each with
//! what it shows.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::auth::comptes::{LONGUEUR_MIN, Session};
use crate::auth::keys::Role;

/// A page rendered with its status.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => internal(error),
    }
}

/// A page that failed: logged, and a plain page without detail.
pub fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "console page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, Html("<!doctype html><title>Erreur</title><p>Erreur interne.</p>"))
        .into_response()
}

/// The role as the console names it.
pub fn role_libelle(role: Role) -> &'static str {
    match role {
        Role::OrganismeFormation => "organisme de formation",
        Role::TeteDeReseau => "tête de réseau",
        Role::Dreets => "DREETS",
        Role::Ddets => "DDETS",
        Role::Academie => "académie",
        Role::MissionLocale => "Mission Locale",
        Role::Arml => "ARML",
        Role::FranceTravail => "France Travail",
        Role::Analyst => "analyste national",
        Role::Auditor => "auditeur",
        Role::Administrateur => "administrateur",
    }
}

#[derive(Template)]
#[template(path = "console/connexion.html")]
pub struct Connexion {
    pub csrf: String,
    pub email: String,
    pub erreur: Option<String>,
    pub message: Option<String>,
}

#[derive(Template)]
#[template(path = "console/mot_de_passe.html")]
pub struct MotDePasse {
    jeton: String,
    /// The account's e-mail; none when the link serves no more.
    email: Option<String>,
    csrf: String,
    erreur: Option<String>,
    longueur: usize,
}

impl MotDePasse {
    pub fn new(jeton: String, email: Option<String>, csrf: String, erreur: Option<String>) -> Self {
        MotDePasse { jeton, email, csrf, erreur, longueur: LONGUEUR_MIN }
    }
}

#[derive(Template)]
#[template(path = "console/accueil.html")]
pub struct Accueil {
    email: String,
    role: &'static str,
    perimetre: Option<String>,
    csrf: String,
}

impl Accueil {
    pub fn of(session: &Session) -> Self {
        let p = &session.principal;
        let perimetre = p.organisme.as_ref().map(|o| format!("organisme {o}")).or_else(|| {
            p.scope.as_ref().map(|s| format!("{} {}", s.kind.to_lowercase().replace('_', " "), s.value))
        });
        Accueil {
            email: session.email.clone(),
            role: role_libelle(p.role),
            perimetre,
            csrf: session.csrf.clone(),
        }
    }
}
