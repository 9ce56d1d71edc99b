//! `GET /api/v1/france-travail/export?format=xlsx|csv&region=&secteur=&liste=&date=`: France Travail's
//! queue of a région on a day (domain.md §12), with what its advisors need to call each person (identity,
//! contacts, formation, organisme, days since enrolment) and the situations recorded so far per sector.
//! XLSX: one sheet per list (à traiter, traités, of the sector asked; one sheet without a sector); CSV:
//! one file with a `liste` column. A FRANCE_TRAVAIL key (its région) or ADMINISTRATEUR; each export is
//! recorded in the access log.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{NaiveDate, Utc};
use projections::france_travail::query::{self, Demande, Ligne, ListeFt, Perimetre};
use projections::ruptures::entree::age;
use serde::Deserialize;

use super::caller::Caller;
use super::error::{ApiError, Refusals};
use super::fichiers::{self, oui};
use crate::app::AppState;
use crate::auth::Role;
use crate::auth::viewer::Viewer;

/// The most entries one export holds.
const MAX_EXPORT: i64 = 100_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// `xlsx` (default) or `csv`.
    format: Option<String>,
    /// The région (a FRANCE_TRAVAIL key: its own; an administrator: any, or all).
    region: Option<String>,
    /// A sector (A–N): its entries, split into à traiter and traités.
    secteur: Option<String>,
    /// With `secteur`: only `A_TRAITER` or `TRAITES`.
    liste: Option<String>,
    /// The day the queue is seen on (default: today, UTC).
    date: Option<NaiveDate>,
}

const COLUMNS: [&str; 24] = [
    "liste",
    "date_inscription",
    "jours_depuis_inscription",
    "alerte_90_jours",
    "nom",
    "prenom",
    "date_de_naissance",
    "age",
    "email",
    "telephone",
    "adresse",
    "code_postal",
    "departement",
    "region",
    "formation_cfd",
    "formation_rncp",
    "formation_libelle",
    "secteurs",
    "organisme_uai",
    "organisme_siret",
    "situations",
    "commentaires",
    "derniere_situation_le",
    "entree",
];

/// France Travail's queue of a région, as a spreadsheet.
///
/// Personal data: each download is recorded in the access journal.
#[utoipa::path(
    get,
    path = "/api/v1/france-travail/export",
    tag = "france-travail",
    params(Params),
    responses(
        (status = 200, description = "La file, en XLSX ou CSV", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        Refusals
    ),
    security(("cle_api" = []))
)]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::FranceTravail, Role::Administrateur], "exporter la file de France Travail")?;
    let Query(params) =
        params.map_err(|e| ApiError::bad_request(format!("paramètres : {}", e.body_text())))?;
    let perimetre = Viewer::Key(caller.0.clone()).france_travail(params.region.as_deref())?;
    let format = fichiers::format(params.format.as_deref())?;
    let secteur = events::formation::parse_secteur(params.secteur.as_deref().unwrap_or(""))
        .map_err(|why| ApiError::bad_request(format!("secteur : {why}")))?;
    let liste = match params.liste.as_deref() {
        None | Some("") => None,
        Some(_) if secteur.is_none() => {
            return Err(ApiError::bad_request("liste : une liste est celle d'un secteur : donnez secteur"));
        }
        Some("A_TRAITER") => Some(ListeFt::ATraiter),
        Some("TRAITES") => Some(ListeFt::Traites),
        Some(other) => {
            return Err(ApiError::bad_request(format!("liste : A_TRAITER ou TRAITES, pas {other:?}")));
        }
    };
    let jour = params.date.unwrap_or_else(|| Utc::now().date_naive());
    let demande = Demande {
        perimetre: perimetre.clone(),
        jour,
        secteur: secteur.clone(),
        liste,
        departement: None,
        apres: None,
        premiers: MAX_EXPORT,
    };
    let lignes = query::liste(&mut *state.pool.acquire().await?, &demande).await?;
    let rows = rows(&state, &lignes, secteur.as_deref(), jour).await?;
    let entrees: Vec<&str> = lignes.iter().map(|l| l.entree.as_str()).collect();
    let sujet = match &perimetre {
        Perimetre::Region(region) => format!("france_travail:{region}"),
        Perimetre::Tout => "france_travail".to_owned(),
    };
    let details = serde_json::json!({ "format": format, "secteur": secteur, "liste": params.liste, "date": jour, "entrees": entrees });
    state.journal.record(&caller.0, "export", &sujet, details).await?;
    let name = format!("{}-{jour}", sujet.replace(':', "-"));
    let feuilles: &[(&str, &str)] = if secteur.is_some() {
        &[("A_TRAITER", "À traiter"), ("TRAITES", "Traités")]
    } else {
        &[("", "Inscrits sans contrat")]
    };
    fichiers::reponse(&format, &name, &COLUMNS, &rows, feuilles)
}

/// One line per entry, in `COLUMNS` order, from the read model and the dossier's events.
async fn rows(
    state: &AppState,
    lignes: &[Ligne],
    secteur: Option<&str>,
    jour: NaiveDate,
) -> Result<Vec<Vec<String>>, ApiError> {
    let ids: Vec<String> = lignes.iter().map(|l| l.dossier_id.clone()).collect();
    let streams = state.store.read_streams(&ids).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let text = |v: Option<String>| v.unwrap_or_default();
    let mut out = Vec::with_capacity(lignes.len());
    for l in lignes {
        let events = streams.get(&l.dossier_id).map(Vec::as_slice).unwrap_or_default();
        let dossier = events::dossier::Dossier::from_log(events);
        let i = dossier.inscription.as_ref();
        let p = i.map(|i| &i.personnel);
        let efface = p.is_some_and(|p| p.efface);
        let c = p.map(|p| &p.coordonnees);
        let situations = &l.situations.0;
        let liste = match secteur {
            Some(s) if situations.iter().any(|x| x.secteur == s) => "TRAITES",
            Some(_) => "A_TRAITER",
            None => "",
        };
        out.push(vec![
            liste.to_owned(),
            l.debut.to_string(),
            l.jours.to_string(),
            oui(l.alerte()),
            text(p.map(|p| p.nom.clone())),
            text(p.map(|p| p.prenom.clone())),
            if efface { String::new() } else { l.date_de_naissance.to_string() },
            if efface { String::new() } else { age(l.date_de_naissance, jour).to_string() },
            text(c.and_then(|c| c.email.as_ref()).map(ToString::to_string)),
            text(c.and_then(|c| c.telephone.as_ref()).map(ToString::to_string)),
            text(c.and_then(|c| c.adresse.clone())),
            text(l.code_postal.clone()),
            text(l.departement.clone()),
            text(l.region.clone()),
            text(l.cfd.clone()),
            text(l.rncp.clone()),
            text(i.and_then(|i| i.formation.libelle_court.clone())),
            l.secteurs.join(" "),
            l.uai_formateur.clone(),
            l.siret_formateur.clone(),
            situations.iter().map(|s| format!("{}:{}", s.secteur, s.situation)).collect::<Vec<_>>().join(" "),
            situations
                .iter()
                .filter_map(|s| s.commentaire.as_ref().map(|c| format!("{}: {c}", s.secteur)))
                .collect::<Vec<_>>()
                .join(" | "),
            text(situations.iter().map(|s| s.recorded_at).max().map(|t| t.to_rfc3339())),
            l.entree.clone(),
        ]);
    }
    Ok(out)
}
