//! The accounts page (domain.md §14): an administrator's (every account; inviting someone with a role
//! and scope like a key's) and an organisation's own administrator's (a `gestionnaire`: the accounts of
//! its organisation only, and invitations with its own role, organisme and scope). The one-time link is
//! shown to the inviter (once) and, when SMTP is configured, e-mailed to the person; a reset link the
//! same way; an account disabled.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clap::ValueEnum;
use serde::Deserialize;

use super::pages::{Comptes, Issue, Refus, internal, render};
use super::web::{connecte, redirect, refuse_csrf, session_of};
use crate::app::AppState;
use crate::auth::comptes::{self, CompteError, Session, lien_url};
use crate::auth::keys::{KeySpec, Principal, Role};

/// The signed-in administrator, else the page to answer with.
pub(super) async fn administrateur(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    let admis = |p: &crate::auth::keys::Principal| p.role == Role::Administrateur;
    connecte(state, headers, admis, "Cette page est celle des administrateurs.").await
}

/// The signed-in administrator, or an organisation's own, else the page to answer with.
async fn gestionnaire(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    let session = session_of(state, headers).await.map_err(internal)?;
    match session {
        Some(s) if s.gestionnaire || s.principal.role == Role::Administrateur => Ok(s),
        Some(_) => {
            Err(render(StatusCode::FORBIDDEN, &Refus::new("Seul un administrateur gère les comptes.")))
        }
        None => Err(redirect("/console/connexion", Vec::new())),
    }
}

/// Whose accounts the session manages: every one (an administrator), or its organisation's.
fn de(session: &Session) -> Option<&Principal> {
    (session.principal.role != Role::Administrateur).then_some(&session.principal)
}

/// The signed-in administrator (or an organisation's own) sending a form with the session's CSRF
/// token, else the page to answer with.
pub(super) async fn administrateur_formulaire(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Session, Response> {
    let session = gestionnaire(state, headers).await?;
    if session.csrf != csrf {
        return Err(refuse_csrf());
    }
    Ok(session)
}

/// The console's address as the request reached it (the proxy in front says the scheme).
fn base(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:8080");
    let https = headers.get("x-forwarded-proto").is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

async fn page(state: &AppState, session: &Session, status: StatusCode, outcome: Option<Issue>) -> Response {
    match comptes::list_de(&state.pool, de(session)).await {
        Ok(lignes) => {
            let roles = Role::value_variants().iter().map(|r| r.as_str()).collect();
            render(status, &Comptes::new(session, lignes, roles, outcome, de(session).is_some()))
        }
        Err(error) => internal(error),
    }
}

pub(super) async fn liste(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match gestionnaire(&state, &headers).await {
        Ok(session) => page(&state, &session, StatusCode::OK, None).await,
        Err(page) => page,
    }
}

/// A role, an organisme and a scope as a form gives them.
#[derive(Deserialize)]
pub(super) struct RoleDemande {
    role: String,
    #[serde(default)]
    organisme: String,
    #[serde(default)]
    scope: String,
}

impl RoleDemande {
    /// Checked as a key's; else the message naming the field.
    pub(super) fn spec(&self, label: Option<String>) -> Result<KeySpec, String> {
        let role = Role::parse(&self.role).ok_or_else(|| format!("rôle : {:?} est inconnu", self.role))?;
        let organisme = Some(self.organisme.trim())
            .filter(|o| !o.is_empty())
            .map(str::parse)
            .transpose()
            .map_err(|e| format!("organisme : {e}"))?;
        let scope = Some(self.scope.trim())
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .transpose()
            .map_err(|e| format!("périmètre : {e}"))?;
        Ok(KeySpec { role, organisme, scope, label })
    }
}

#[derive(Deserialize)]
pub(super) struct Invitation {
    csrf: String,
    email: String,
    #[serde(flatten)]
    demande: RoleDemande,
    /// The person administers their organisation's accounts.
    #[serde(default)]
    gestionnaire: Option<String>,
}

/// The link of a new account or a reset, shown, and e-mailed when SMTP is configured.
async fn remettre(state: &AppState, headers: &HeaderMap, email: &str, token: &str) -> Issue {
    let lien = lien_url(&base(headers), token);
    let envoi = match &state.smtp {
        None => None,
        Some(smtp) => {
            let texte = format!(
                "Bonjour,\n\nun accès à la console de tba vous est ouvert. Choisissez votre mot de passe ici (lien \
                 valable 7 jours, une seule fois) :\n\n{lien}\n"
            );
            Some(match smtp.envoyer(email, "Votre accès à tba", &texte).await {
                Ok(()) => format!("Le lien a été envoyé à {email}."),
                Err(why) => {
                    format!("Le lien n'a pas pu être envoyé par e-mail ({why}) : transmettez-le vous-même.")
                }
            })
        }
    };
    Issue::Lien { lien, envoi }
}

pub(super) async fn inviter(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Invitation>,
) -> Response {
    let session = match administrateur_formulaire(&state, &headers, &form.csrf).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let spec = (|| {
        // An organisation's own administrator invites into its organisation only.
        if let Some(p) = de(&session) {
            return Ok(KeySpec {
                role: p.role,
                organisme: p.organisme.clone(),
                scope: p.scope.clone(),
                label: None,
            });
        }
        form.demande.spec(None)
    })();
    let spec = match spec {
        Ok(spec) => spec,
        Err(message) => {
            return page(&state, &session, StatusCode::BAD_REQUEST, Some(Issue::Erreur(message))).await;
        }
    };
    match comptes::create_as(&state.pool, &form.email, &spec, form.gestionnaire.is_some()).await {
        Ok((_, token)) => {
            let outcome = remettre(&state, &headers, &form.email, &token).await;
            page(&state, &session, StatusCode::CREATED, Some(outcome)).await
        }
        Err(CompteError::Invalid(message)) => {
            page(&state, &session, StatusCode::BAD_REQUEST, Some(Issue::Erreur(message))).await
        }
        Err(error) => internal(error),
    }
}

/// Unless the account `email` is one the session manages, the page saying so.
async fn du_perimetre(state: &AppState, session: &Session, email: &str) -> Result<(), Response> {
    let Some(p) = de(session) else { return Ok(()) };
    match comptes::de_l_organisation(&state.pool, email, p).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            let message = format!("e-mail : {email} n'est pas un compte de votre organisation");
            Err(page(state, session, StatusCode::NOT_FOUND, Some(Issue::Erreur(message))).await)
        }
        Err(error) => Err(internal(error)),
    }
}

#[derive(Deserialize)]
pub(super) struct Compte {
    csrf: String,
    email: String,
}

pub(super) async fn reinitialiser(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Compte>,
) -> Response {
    let session = match administrateur_formulaire(&state, &headers, &form.csrf).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    if let Err(page) = du_perimetre(&state, &session, &form.email).await {
        return page;
    }
    match comptes::reinitialiser(&state.pool, &form.email).await {
        Ok(token) => {
            let outcome = remettre(&state, &headers, &form.email, &token).await;
            page(&state, &session, StatusCode::OK, Some(outcome)).await
        }
        Err(error @ (CompteError::NotFound(_) | CompteError::Invalid(_))) => {
            page(&state, &session, StatusCode::BAD_REQUEST, Some(Issue::Erreur(error.to_string()))).await
        }
        Err(error) => internal(error),
    }
}

pub(super) async fn desactiver(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Compte>,
) -> Response {
    let session = match administrateur_formulaire(&state, &headers, &form.csrf).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    if let Err(page) = du_perimetre(&state, &session, &form.email).await {
        return page;
    }
    match comptes::desactiver(&state.pool, &form.email).await {
        Ok(()) => redirect("/console/comptes", Vec::new()),
        Err(error @ (CompteError::NotFound(_) | CompteError::Invalid(_))) => {
            page(&state, &session, StatusCode::BAD_REQUEST, Some(Issue::Erreur(error.to_string()))).await
        }
        Err(error) => internal(error),
    }
}
