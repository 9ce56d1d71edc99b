//! `GET /api/v1/missions-locales/{id}/export?format=xlsx|csv`: a Mission Locale's visible queue on a
//! day, with what its advisors need to call each young person (identity, contacts, formation, the
//! broken contract, the organisme) and what was recorded so far. XLSX: one sheet per list; CSV
//! (semicolon-separated, UTF-8 with a byte-order mark, as French spreadsheets expect): one file with a
//! `liste` column. The Mission Locale's own key, or ADMINISTRATEUR; each export is recorded in the
//! access log. `GET /api/v1/organismes/{organisme}/ruptures/export` gives a CFA the same file for the
//! ruptures of its dossiers, with the collaboration's state of each (domain.md §11).

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{NaiveDate, Utc};
use events::domain::OrganismeRef;
use projections::ruptures::collaboration::collaboration;
use projections::ruptures::entree::age;
use projections::ruptures::query::{self, Demande, Ligne, Liste, Qui};
use serde::Deserialize;

use super::caller::Caller;
use super::error::{ApiError, Refusals};
use super::fichiers::{self, oui};
use crate::app::AppState;
use crate::auth::Role;
use crate::auth::viewer::Viewer;
use crate::ingestion::FieldError;

/// The most entries one export holds.
const MAX_EXPORT: i64 = 100_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// `xlsx` (default) or `csv`.
    format: Option<String>,
    /// Only one list: `A_TRAITER`, `A_RECONTACTER` or `TRAITES` (default: all three).
    liste: Option<String>,
    /// The day the queue is seen on (default: today, UTC).
    date: Option<NaiveDate>,
}

const COLUMNS: [&str; 36] = [
    "liste",
    "prioritaire",
    "nouveau_contrat",
    "date_rupture",
    "mois_rupture",
    "nom",
    "prenom",
    "date_de_naissance",
    "age",
    "rqth",
    "email",
    "telephone",
    "responsables_mails",
    "adresse",
    "code_postal",
    "code_commune_insee",
    "annee_scolaire",
    "formation_cfd",
    "formation_rncp",
    "formation_libelle",
    "organisme_uai",
    "organisme_siret",
    "organisme_nom",
    "contrat_debut",
    "contrat_fin",
    "siret_employeur",
    "cause_rupture",
    "situation",
    "situation_autre",
    "commentaire",
    "connaissance",
    "qualifiee_le",
    "suivi_conjoint",
    "collaboration",
    "partagee",
    "entree",
];

/// The queue of a Mission Locale, as a spreadsheet.
///
/// Personal data: each download is recorded in the access journal.
#[utoipa::path(
    get,
    path = "/api/v1/missions-locales/{id}/export",
    tag = "missions-locales",
    params(("id" = String, Path, description = "La Mission Locale"), Params),
    responses(
        (status = 200, description = "La file, en XLSX ou CSV", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        Refusals
    ),
    security(("cle_api" = []))
)]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::MissionLocale, Role::Administrateur], "exporter la file d'une Mission Locale")?;
    // Whose queue: decided by the same rules as the GraphQL lists.
    let qui = Viewer::Key(caller.0.clone()).ruptures(Some(&id))?;
    let Query(params) =
        params.map_err(|e| ApiError::bad_request(format!("paramètres : {}", e.body_text())))?;
    let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rm_missions_locales WHERE id = $1)")
        .bind(&id)
        .fetch_one(&state.pool)
        .await?;
    if !known {
        return Err(ApiError::NotFound(format!("aucune Mission Locale {id}")));
    }
    fichier(&state, &caller, qui, &id, params).await
}

/// The ruptures of an organisme's dossiers a CFA follows with the Missions Locales (domain.md §11),
/// with the collaboration's state of each, as a spreadsheet.
///
/// The organisme's own key, or ADMINISTRATEUR. Personal data: each download is recorded in the access
/// journal.
#[utoipa::path(
    get,
    path = "/api/v1/organismes/{organisme}/ruptures/export",
    tag = "missions-locales",
    params(("organisme" = String, Path, description = "L'organisme, UAI:SIRET"), Params),
    responses(
        (status = 200, description = "Les ruptures de ses dossiers, en XLSX ou CSV", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        Refusals
    ),
    security(("cle_api" = []))
)]
pub async fn export_organisme(
    State(state): State<AppState>,
    caller: Caller,
    Path(organisme): Path<String>,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller
        .require(&[Role::OrganismeFormation, Role::Administrateur], "exporter les ruptures d'un organisme")?;
    let asked: OrganismeRef = organisme.parse().map_err(|e: String| ApiError::BadRequest {
        message: format!("organisme : {e}"),
        errors: vec![FieldError::new("organisme", e.to_string())],
    })?;
    if caller.0.role == Role::OrganismeFormation && caller.0.organisme.as_ref() != Some(&asked) {
        return Err(ApiError::Forbidden(format!(
            "une clé d'organisme n'exporte que ses propres ruptures, pas celles de {asked}"
        )));
    }
    let Query(params) =
        params.map_err(|e| ApiError::bad_request(format!("paramètres : {}", e.body_text())))?;
    let qui = Qui::Organisme(asked.uai.to_string(), asked.siret.to_string());
    fichier(&state, &caller, qui, &asked.to_string(), params).await
}

/// The visible entries `qui` reads on the day asked, as the file asked; the export recorded in the
/// access log under `sujet`.
async fn fichier(
    state: &AppState,
    caller: &Caller,
    qui: Qui,
    sujet: &str,
    params: Params,
) -> Result<Response, ApiError> {
    let format = fichiers::format(params.format.as_deref())?;
    let liste = params
        .liste
        .as_deref()
        .map(|l| {
            Liste::parse(l).ok_or_else(|| {
                ApiError::bad_request(format!("liste : A_TRAITER, A_RECONTACTER ou TRAITES, pas {l:?}"))
            })
        })
        .transpose()?;
    let jour = params.date.unwrap_or_else(|| Utc::now().date_naive());
    let demande = Demande {
        qui,
        jour,
        liste,
        code_postal: None,
        mois: None,
        anciennete: None,
        apres: None,
        premiers: MAX_EXPORT,
    };
    let lignes = query::liste(&mut *state.pool.acquire().await?, &demande).await?;
    let rows = rows(state, &lignes, jour).await?;
    let entrees: Vec<&str> = lignes.iter().map(|l| l.entree.as_str()).collect();
    let details = serde_json::json!({ "format": format, "liste": liste.map(Liste::as_str), "date": jour, "entrees": entrees });
    state.journal.record(&caller.0, "export", sujet, details).await?;
    let name = format!("ruptures-{}-{jour}", sujet.replace(':', "-"));
    let feuilles = [("A_TRAITER", "À traiter"), ("A_RECONTACTER", "À recontacter"), ("TRAITES", "Traités")];
    fichiers::reponse(&format, &name, &COLUMNS, &rows, &feuilles)
}

/// One line per entry, in `COLUMNS` order, from the read model and the dossier's events.
async fn rows(state: &AppState, lignes: &[Ligne], jour: NaiveDate) -> Result<Vec<Vec<String>>, ApiError> {
    let ids: Vec<String> = lignes.iter().map(|l| l.dossier_id.clone()).collect();
    let streams = state.store.read_streams(&ids).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let (uais, sirets): (Vec<String>, Vec<String>) =
        lignes.iter().map(|l| (l.uai_formateur.clone(), l.siret_formateur.clone())).unzip();
    let noms: HashMap<(String, String), String> = sqlx::query_as::<_, (String, String, String)>(
        "SELECT o.uai, o.siret, o.nom FROM rm_organismes o
         JOIN unnest($1::text[], $2::text[]) AS k(uai, siret) USING (uai, siret)",
    )
    .bind(&uais)
    .bind(&sirets)
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .map(|(u, s, n)| ((u, s), n))
    .collect();
    let text = |v: Option<String>| v.unwrap_or_default();
    let mut out = Vec::with_capacity(lignes.len());
    for l in lignes {
        let events = streams.get(&l.dossier_id).map(Vec::as_slice).unwrap_or_default();
        let dossier = events::dossier::Dossier::from_log(events);
        let i = dossier.inscription.as_ref();
        let p = i.map(|i| &i.personnel);
        // An erased person keeps their place in the queue, and nothing that identifies them.
        let efface = p.is_some_and(|p| p.efface);
        let c = p.map(|p| &p.coordonnees);
        // The contract the rupture ended: the latest one started before it.
        let contrat = dossier.contrats.values().rfind(|c| c.contrat.date_debut < l.date_rupture);
        out.push(vec![
            l.liste.clone(),
            oui(l.prioritaire),
            oui(l.nouveau_contrat),
            l.date_rupture.to_string(),
            l.date_rupture.format("%Y-%m").to_string(),
            text(p.map(|p| p.nom.clone())),
            text(p.map(|p| p.prenom.clone())),
            if efface { String::new() } else { l.date_de_naissance.to_string() },
            if efface { String::new() } else { age(l.date_de_naissance, jour).to_string() },
            oui(l.rqth),
            text(c.and_then(|c| c.email.as_ref()).map(ToString::to_string)),
            text(c.and_then(|c| c.telephone.as_ref()).map(ToString::to_string)),
            c.map(|c| c.responsables_mails.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
            text(c.and_then(|c| c.adresse.clone())),
            text(l.code_postal.clone()),
            text(l.code_commune_insee.clone()),
            text(i.map(|i| i.annee_scolaire.to_string())),
            text(i.and_then(|i| i.formation.cfd.as_ref()).map(ToString::to_string)),
            text(i.and_then(|i| i.formation.rncp.as_ref()).map(ToString::to_string)),
            text(i.and_then(|i| i.formation.libelle_court.clone())),
            l.uai_formateur.clone(),
            l.siret_formateur.clone(),
            text(noms.get(&(l.uai_formateur.clone(), l.siret_formateur.clone())).cloned()),
            text(contrat.map(|c| c.contrat.date_debut.to_string())),
            text(contrat.and_then(|c| c.contrat.date_fin).map(|d| d.to_string())),
            text(contrat.and_then(|c| c.contrat.siret_employeur.as_ref()).map(ToString::to_string)),
            text(contrat.and_then(|c| c.rupture.as_ref()).and_then(|r| r.cause.clone())),
            text(l.situation.clone()),
            text(l.situation_autre.clone()),
            text(l.commentaire.clone()),
            text(l.connaissance.clone()),
            text(l.qualifiee_le.map(|t| t.to_rfc3339())),
            oui(l.suivi_conjoint),
            collaboration(
                l.suivi_conjoint,
                l.situation.as_deref().and_then(events::rupture::Situation::parse),
            )
            .as_str()
            .to_owned(),
            oui(l.partagee),
            l.entree.clone(),
        ]);
    }
    Ok(out)
}
