//! The administrator's page (domain.md §14): where each projection stands against the log, the
//! referentials (organismes, Missions Locales, réseaux) with their import from a CSV file (the same
//! functions as `tba organismes|missions-locales|reseaux import`: a file with any refused value imports
//! nothing and says which), the organisations, and every API key with its revocation.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use events::{Channel, Metadata};
use serde::Deserialize;

use super::comptes::{RoleDemande, administrateur, administrateur_formulaire};
use super::pages::{Message, internal, render};
use super::web::{redirect, refuse_csrf};
use crate::app::AppState;
use crate::auth::comptes::Session;
use crate::ingestion::referential::RowError;
use crate::ingestion::{missions_locales, organismes, reseaux};
use crate::read_models::Status;

/// Refused values shown at most.
const ERREURS: usize = 20;
/// Organismes listed at most.
const ORGANISMES: i64 = 50;

/// An API key as the page lists it.
#[derive(sqlx::FromRow)]
pub struct Cle {
    id: uuid::Uuid,
    prefix: String,
    role: String,
    perimetre: String,
    label: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub struct Organisation {
    id: String,
    nom: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/administration.html")]
pub struct Administration {
    nav: super::pages::Nav,
    csrf: String,
    message: Option<Message>,
    erreurs: Vec<String>,
    projections: Vec<Status>,
    /// Organismes, Missions Locales, réseaux.
    comptes: (i64, i64, i64),
    recherche: String,
    organismes: Vec<Organisation>,
    missions: Vec<Organisation>,
    cles: Vec<Cle>,
    roles: Vec<&'static str>,
    /// A key just created: its secret, shown once.
    secret: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct Recherche {
    q: Option<String>,
    ok: Option<String>,
}

/// What a form did: its message, the refused values, a new key's secret.
#[derive(Default)]
struct Issue {
    message: Option<Message>,
    erreurs: Vec<String>,
    secret: Option<String>,
}

impl Issue {
    fn message(message: Message) -> Self {
        Issue { message: Some(message), ..Issue::default() }
    }
}

async fn page(
    state: &AppState,
    session: &Session,
    recherche: &str,
    status: StatusCode,
    issue: Issue,
) -> Response {
    let lu = async {
        let projections = crate::read_models::status(&state.pool).await?;
        let comptes = sqlx::query_as(
            "SELECT (SELECT count(*) FROM organismes), (SELECT count(*) FROM missions_locales),
                    (SELECT count(*) FROM reseaux)",
        )
        .fetch_one(&state.pool)
        .await?;
        let motif = format!("%{}%", recherche.replace(['%', '_'], ""));
        let organismes = sqlx::query_as(
            "SELECT uai || ':' || siret AS id, nom, nature || ', ' || departement AS detail FROM organismes
             WHERE uai || ':' || siret || ' ' || nom ILIKE $1 ORDER BY nom, uai LIMIT $2",
        )
        .bind(motif)
        .bind(ORGANISMES)
        .fetch_all(&state.pool)
        .await?;
        let missions = sqlx::query_as(
            "SELECT m.id, m.nom, count(c.commune) || ' commune(s)' AS detail
             FROM missions_locales m LEFT JOIN ml_communes c ON c.ml_id = m.id
             GROUP BY m.id, m.nom ORDER BY m.nom",
        )
        .fetch_all(&state.pool)
        .await?;
        let cles = sqlx::query_as(
            "SELECT id, prefix, role,
                    coalesce(organisme_uai || ':' || organisme_siret, scope_kind || ':' || scope_value, '') AS perimetre,
                    coalesce(label, '') AS label, created_at, last_used_at, revoked_at
             FROM api_keys ORDER BY revoked_at IS NOT NULL, created_at DESC",
        )
        .fetch_all(&state.pool)
        .await?;
        Ok::<_, sqlx::Error>((projections, comptes, organismes, missions, cles))
    };
    match lu.await {
        Ok((projections, comptes, organismes, missions, cles)) => render(
            status,
            &Administration {
                nav: super::pages::Nav::of(session),
                csrf: session.csrf.clone(),
                message: issue.message,
                erreurs: issue.erreurs,
                secret: issue.secret,
                roles: <crate::auth::keys::Role as clap::ValueEnum>::value_variants()
                    .iter()
                    .map(|r| r.as_str())
                    .collect(),
                projections,
                comptes,
                recherche: recherche.to_owned(),
                organismes,
                missions,
                cles,
            },
        ),
        Err(error) => internal(error),
    }
}

pub(super) async fn administration(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(recherche): Query<Recherche>,
) -> Response {
    let session = match administrateur(&state, &headers).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let issue = match recherche.ok {
        Some(_) => Issue::message(Message::Succes("Clé révoquée.".into())),
        None => Issue::default(),
    };
    page(&state, &session, recherche.q.as_deref().unwrap_or(""), StatusCode::OK, issue).await
}

/// A referential file read and imported: what it did, or the values it refused.
async fn importer(
    state: &AppState,
    genre: &str,
    fichier: &[u8],
    metadata: Metadata,
) -> Result<Result<String, Vec<RowError>>, String> {
    let resume = |n: &str, r: organismes::ImportReport| {
        format!(
            "{} {n} lus : {} créés, {} modifiés, {} inchangés.",
            r.read, r.created, r.changed, r.unchanged
        )
    };
    Ok(match genre {
        "organismes" => match organismes::parse_csv(fichier) {
            Ok(rows) => Ok(resume(
                "organismes",
                organismes::import(&state.pool, rows, metadata).await.map_err(|e| e.to_string())?,
            )),
            Err(errors) => Err(errors),
        },
        "missions-locales" => match missions_locales::parse_csv(fichier) {
            Ok(rows) => match missions_locales::import(&state.pool, rows, metadata).await {
                Ok(report) => Ok(resume("Missions Locales", report)),
                Err(missions_locales::MissionsLocalesImportError::Invalid(errors)) => Err(errors),
                Err(error) => return Err(error.to_string()),
            },
            Err(errors) => Err(errors),
        },
        "reseaux" => match reseaux::parse_csv(fichier) {
            Ok(rows) => match reseaux::import(&state.pool, &rows).await {
                Ok(count) => Ok(format!("{count} réseau(x) importé(s).")),
                Err(reseaux::ReseauxImportError::Invalid(errors)) => Err(errors),
                Err(error) => return Err(error.to_string()),
            },
            Err(errors) => Err(errors),
        },
        other => return Err(format!("no referential {other:?}")),
    })
}

/// Routed with the file deposits (`http::router`): a referential is larger than the console's forms.
pub async fn referentiel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(genre): Path<String>,
    mut formulaire: Multipart,
) -> Response {
    let session = match administrateur(&state, &headers).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let (mut csrf, mut fichier) = (None, None);
    loop {
        match formulaire.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let Ok(bytes) = field.bytes().await else { break };
                match name.as_str() {
                    "csrf" => csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
                    "fichier" => fichier = Some(bytes),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => break,
        }
    }
    if csrf.as_deref() != Some(session.csrf.as_str()) {
        return refuse_csrf();
    }
    let erreur = |message: String, erreurs: Vec<String>| {
        let state = state.clone();
        let session = session.clone();
        async move {
            let issue = Issue { message: Some(Message::Erreur(message)), erreurs, secret: None };
            page(&state, &session, "", StatusCode::BAD_REQUEST, issue).await
        }
    };
    let Some(fichier) = fichier.filter(|f| !f.is_empty()) else {
        return erreur("fichier : choisissez un fichier CSV.".into(), Vec::new()).await;
    };
    let metadata = crate::app::metadata(session.principal.actor(), Channel::Console);
    match importer(&state, &genre, &fichier, metadata).await {
        // Shown at once (importing the same file again changes nothing).
        Ok(Ok(resume)) => {
            page(&state, &session, "", StatusCode::OK, Issue::message(Message::Succes(resume))).await
        }
        Ok(Err(errors)) => {
            let mut shown: Vec<String> = errors.iter().take(ERREURS).map(ToString::to_string).collect();
            if errors.len() > ERREURS {
                shown.push(format!("… et {} autre(s)", errors.len() - ERREURS));
            }
            let message = format!("Rien n'a été importé : {} valeur(s) refusée(s).", errors.len());
            erreur(message, shown).await
        }
        Err(error) => internal(error),
    }
}

#[derive(Deserialize)]
pub(super) struct Revocation {
    csrf: String,
}

pub(super) async fn revoquer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<Revocation>,
) -> Response {
    let session = match administrateur_formulaire(&state, &headers, &form.csrf).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    match state.gate.revoke(&state.pool, &id).await {
        Ok(()) => redirect("/console/administration?ok=cle", Vec::new()),
        Err(error) => {
            let issue = Issue::message(Message::Erreur(format!("clé : {error}")));
            page(&state, &session, "", StatusCode::NOT_FOUND, issue).await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct NouvelleCle {
    csrf: String,
    #[serde(flatten)]
    demande: RoleDemande,
    #[serde(default)]
    label: String,
}

/// A key for any role and perimeter (as `tba keys create`), its secret shown once.
pub(super) async fn creer_cle(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<NouvelleCle>,
) -> Response {
    let session = match administrateur_formulaire(&state, &headers, &form.csrf).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let label = Some(form.label.trim().chars().take(200).collect::<String>()).filter(|l| !l.is_empty());
    let created = match form.demande.spec(label) {
        Ok(spec) => crate::auth::keys::create(&state.pool, &spec).await.map_err(|e| e.to_string()),
        Err(message) => Err(message),
    };
    match created {
        Ok((_, secret)) => {
            let message = Message::Succes("Clé créée : copiez son secret, il ne sera plus affiché.".into());
            let issue = Issue { message: Some(message), secret: Some(secret), ..Issue::default() };
            page(&state, &session, "", StatusCode::CREATED, issue).await
        }
        Err(message) => {
            page(&state, &session, "", StatusCode::BAD_REQUEST, Issue::message(Message::Erreur(message)))
                .await
        }
    }
}
