//! The CFA staff's pages (domain.md §14): their effectifs with each learner's status and parcours,
//! and their transmissions day by day with the refused items and why. Read through the same functions
//! as GraphQL's `dossiers` and `GET /api/v1/transmissions`, for the account's own organisme; every
//! page showing learners or what the ERP sent about them is recorded in the access journal.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{NaiveDate, Utc};
use projections::dossiers::query::{self, DossierRow};
use projections::indicateurs::Filtre;
use projections::indicateurs::segments::candidates;
use projections::status::{Statut, statut_at};
use serde::Deserialize;

use askama::Template;

use super::fiche::identites;
use super::pages::{internal, render, statut_libelle};
use super::web::du_cfa;
use crate::app::AppState;
use crate::auth::comptes::Session;
use crate::ingestion::journal;

/// Learners shown per page.
const PAGE: i64 = 100;

#[derive(Deserialize)]
pub(super) struct Page {
    apres: Option<String>,
}

fn effectif(row: &DossierRow, nom: String, jour: NaiveDate) -> Effectif {
    Effectif {
        id: row.dossier_id.clone(),
        nom,
        formation: row.cfd.clone().or_else(|| row.rncp.clone()).unwrap_or_default(),
        annee: row.annee_scolaire.clone(),
        statut: statut_at(&row.parcours.0, jour).map_or("—", statut_libelle),
        parcours: row
            .parcours
            .0
            .iter()
            .map(|p| format!("{} le {}", statut_libelle(p.statut), p.date.format("%d/%m/%Y")))
            .collect::<Vec<_>>()
            .join(" → "),
        source: row.source.clone(),
    }
}

pub(super) async fn effectifs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> Response {
    let (session, organisme) = match du_cfa(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let jour = Utc::now().date_naive();
    let annees: Vec<String> = candidates(jour).iter().map(ToString::to_string).collect();
    let statuts: Vec<&str> = Statut::ALL.iter().map(|s| s.as_str()).collect();
    let (uai, siret) = (organisme.uai.to_string(), organisme.siret.to_string());
    let apres = page.apres.unwrap_or_default();
    let filtre = Filtre::default();
    let liste = query::Liste {
        annees: &annees,
        date: jour,
        statuts: &statuts,
        filtre: &filtre,
        organisme: Some((&uai, &siret)),
        responsables: &[],
        after: &apres,
        limit: PAGE + 1,
    };
    let mut rows = match query::liste(&state.pool, &liste).await {
        Ok(rows) => rows,
        Err(error) => return internal(error),
    };
    let suivante = (rows.len() > PAGE as usize).then(|| rows[PAGE as usize - 1].dossier_id.clone());
    rows.truncate(PAGE as usize);
    let ids: Vec<&str> = rows.iter().map(|r| r.dossier_id.as_str()).collect();
    let noms = match identites(&state, &ids).await {
        Ok(noms) => noms,
        Err(error) => return internal(error),
    };
    let details = serde_json::json!({ "dossiers": ids });
    let subject = format!("effectifs au {jour} (console)");
    if let Err(error) = state.journal.record(&session.principal, "dossiers", &subject, details).await {
        return internal(error);
    }
    let lignes = rows
        .iter()
        .map(|row| {
            let nom =
                noms.get(&row.dossier_id).map(|i| format!("{} {}", i.nom, i.prenom)).unwrap_or_default();
            effectif(row, nom, jour)
        })
        .collect();
    render(
        StatusCode::OK,
        &Effectifs {
            nav: super::pages::Nav::of(&session),
            organisme: organisme.to_string(),
            lignes,
            suivante,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct Jour {
    date: Option<NaiveDate>,
}

pub(super) async fn transmissions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(jour): Query<Jour>,
) -> Response {
    let (session, organisme) = match du_cfa(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let au = Utc::now().date_naive();
    let jours = match journal::days(&state.pool, &organisme, au - chrono::Duration::days(30), au).await {
        Ok(jours) => jours,
        Err(error) => return internal(error),
    };
    let rejets = match journal::rejets(&state.pool, &organisme, jour.date, 200, 0).await {
        Ok(rejets) => rejets,
        Err(error) => return internal(error),
    };
    // The refused items hold what the ERP sent (names, e-mails): their read is recorded.
    let details = serde_json::json!({ "rejets": rejets.len(), "date": jour.date, "offset": 0 });
    if let Err(error) =
        state.journal.record(&session.principal, "transmissions", &organisme.to_string(), details).await
    {
        return internal(error);
    }
    let page = Transmissions::new(&session, organisme.to_string(), jours, rejets, jour.date);
    render(StatusCode::OK, &page)
}

/// A learner of the effectifs.
pub struct Effectif {
    pub id: String,
    pub nom: String,
    pub formation: String,
    pub annee: String,
    pub statut: &'static str,
    pub parcours: String,
    pub source: String,
}

/// A CFA's effectifs.
#[derive(Template)]
#[template(path = "console/effectifs.html")]
pub struct Effectifs {
    pub nav: super::pages::Nav,
    pub organisme: String,
    pub lignes: Vec<Effectif>,
    /// The id after which the next page starts, if there is one.
    pub suivante: Option<String>,
}

/// A day of transmissions.
pub struct JourTransmis {
    pub date: String,
    pub iso: String,
    pub transmissions: i64,
    pub recus: i64,
    pub acceptes: i64,
    pub rejetes: i64,
}

/// A refused item, and why.
pub struct RejetLigne {
    pub recu: String,
    pub index: i32,
    pub id_erp: String,
    pub erreurs: Vec<String>,
}

/// A CFA's transmissions.
#[derive(Template)]
#[template(path = "console/transmissions.html")]
pub struct Transmissions {
    nav: super::pages::Nav,
    organisme: String,
    jours: Vec<JourTransmis>,
    rejets: Vec<RejetLigne>,
    jour: Option<String>,
}

impl Transmissions {
    pub fn new(
        session: &Session,
        organisme: String,
        jours: Vec<crate::ingestion::journal::Jour>,
        rejets: Vec<crate::ingestion::journal::Rejet>,
        jour: Option<NaiveDate>,
    ) -> Self {
        let jours = jours
            .into_iter()
            .map(|j| JourTransmis {
                date: j.date.format("%d/%m/%Y").to_string(),
                iso: j.date.to_string(),
                transmissions: j.transmissions,
                recus: j.totals.received,
                acceptes: j.totals.accepted,
                rejetes: j.totals.rejected,
            })
            .collect();
        let rejets = rejets
            .into_iter()
            .map(|r| RejetLigne {
                recu: r.received_at.format("%d/%m/%Y %H:%M").to_string(),
                index: r.index,
                id_erp: r.id_erp_apprenant.unwrap_or_default(),
                erreurs: r
                    .errors
                    .as_array()
                    .map(|errors| {
                        errors
                            .iter()
                            .map(|e| {
                                let champ = e["path"].as_str().or(e["field"].as_str()).unwrap_or("");
                                format!("{champ} : {}", e["message"].as_str().unwrap_or_default())
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Transmissions {
            nav: super::pages::Nav::of(session),
            organisme,
            jours,
            rejets,
            jour: jour.map(|d| d.format("%d/%m/%Y").to_string()),
        }
    }
}
