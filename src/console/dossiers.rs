//! The nominative list of dossiers the reader's role allows (domain.md §9, §14): an organisme its own,
//! a réseau its organismes', DREETS, DDETS and académies their territory's inscrits sans contrat,
//! rupturants and abandons, administrators and auditors every one; its export (XLSX or CSV); a
//! dossier's page (identity, contacts, formation, contracts, parcours), where the organisme declares
//! the rupture of an ongoing contract. Read through the same functions as GraphQL's `dossiers`,
//! `dossier` and `declarerRupture` (`app::dossiers`, `app::ruptures`); every page and export that shows
//! learners is recorded in the access journal.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use events::Channel;
use projections::dossiers::query::DossierRow;
use projections::indicateurs::Filtre;
use projections::status::{Statut, statut_at};
use serde::Deserialize;

use super::fiche::{Contrat, identites, parcours, rattraper, refus_commande};
use super::pages::{Message, Refus, internal, refus_acces, render, statut_libelle};
use super::web::{autorise, redirect, refuse_csrf};
use crate::app::dossiers::{Perimetre, SIGNALES, lisible, page, perimetre};
use crate::app::ruptures::{DeclarerRupture, declarer_rupture};
use crate::app::{AppState, CommandError};
use crate::auth::comptes::Session;
use crate::auth::keys::Role;
use crate::auth::viewer::{AccessError, Viewer};

/// A value in a query string.
fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Dossiers per page.
const PAGE: i64 = 100;
/// Dossiers in an export at most.
const EXPORT_MAX: i64 = 20_000;

const REFUS: &str = "Votre rôle ne donne pas accès à une liste nominative.";

#[derive(Deserialize, Default)]
pub(super) struct Question {
    date: Option<String>,
    statut: Option<String>,
    region: Option<String>,
    departement: Option<String>,
    apres: Option<String>,
    format: Option<String>,
}

impl Question {
    fn date(&self) -> NaiveDate {
        let asked = self.date.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        asked.unwrap_or_else(|| Utc::now().date_naive())
    }

    fn statuts(&self) -> Option<Vec<Statut>> {
        self.statut.as_deref().filter(|s| !s.is_empty()).map(|s| Statut::parse(s).into_iter().collect())
    }

    fn filtre(&self) -> Filtre {
        let kept =
            |v: &Option<String>| v.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        Filtre { regions: kept(&self.region), departements: kept(&self.departement), ..Filtre::default() }
    }

    /// The question's query string, without the page.
    fn lien(&self) -> String {
        let mut lien = format!("date={}", self.date());
        for (name, value) in
            [("statut", &self.statut), ("region", &self.region), ("departement", &self.departement)]
        {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                lien.push_str(&format!("&{name}={}", encode(value)));
            }
        }
        lien
    }
}

/// The signed-in reader of a nominative list and what they may list; else the page to answer with.
async fn lecteur(
    state: &AppState,
    headers: &HeaderMap,
    question: &Question,
) -> Result<(Session, Viewer, Perimetre), Response> {
    let (session, viewer, _) = autorise(state, headers, |v| v.principal().map(|_| ()), REFUS).await?;
    match perimetre(&state.pool, &viewer, question.statuts(), question.filtre()).await {
        Ok(perimetre) => Ok((session, viewer, perimetre)),
        Err(error) => Err(refus_acces(error)),
    }
}

/// A dossier as the list shows it.
pub struct LigneDossier {
    id: String,
    nom: String,
    formation: String,
    organisme: String,
    statut: &'static str,
    departement: String,
}

#[derive(Template)]
#[template(path = "console/dossiers.html")]
pub struct Liste {
    nav: super::pages::Nav,
    date: String,
    statut: String,
    statuts: Vec<(&'static str, &'static str)>,
    region: String,
    departement: String,
    lien: String,
    lignes: Vec<LigneDossier>,
    suivante: Option<String>,
}

/// The rows of the list with their names (read from their events).
async fn lignes(state: &AppState, rows: &[DossierRow], date: NaiveDate) -> Result<Vec<LigneDossier>, String> {
    let ids: Vec<&str> = rows.iter().map(|r| r.dossier_id.as_str()).collect();
    let noms = identites(state, &ids).await?;
    Ok(rows
        .iter()
        .map(|r| LigneDossier {
            id: r.dossier_id.clone(),
            nom: noms.get(&r.dossier_id).map(|i| format!("{} {}", i.nom, i.prenom)).unwrap_or_default(),
            formation: r.cfd.clone().or_else(|| r.rncp.clone()).unwrap_or_default(),
            organisme: r
                .nom_formateur
                .clone()
                .unwrap_or_else(|| format!("{}:{}", r.uai_formateur, r.siret_formateur)),
            statut: statut_at(&r.parcours.0, date).map_or("—", statut_libelle),
            departement: r.departement.clone(),
        })
        .collect())
}

pub(super) async fn liste(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(question): Query<Question>,
) -> Response {
    let (session, viewer, perimetre) = match lecteur(&state, &headers, &question).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let date = question.date();
    let apres = question.apres.clone().unwrap_or_default();
    let mut rows = match page(&state.pool, &state.journal, &viewer, &perimetre, date, &apres, PAGE + 1).await
    {
        Ok(rows) => rows,
        Err(error) => return internal(format!("{error:?}")),
    };
    let suivante = (rows.len() > PAGE as usize).then(|| rows[PAGE as usize - 1].dossier_id.clone());
    rows.truncate(PAGE as usize);
    let lignes = match lignes(&state, &rows, date).await {
        Ok(lignes) => lignes,
        Err(error) => return internal(error),
    };
    let offerts: &[Statut] = if perimetre.territorial { &SIGNALES } else { &Statut::ALL };
    render(
        StatusCode::OK,
        &Liste {
            nav: super::pages::Nav::of(&session),
            date: date.to_string(),
            statut: question.statut.clone().unwrap_or_default(),
            statuts: offerts.iter().map(|s| (s.as_str(), statut_libelle(*s))).collect(),
            region: question.region.clone().unwrap_or_default(),
            departement: question.departement.clone().unwrap_or_default(),
            lien: question.lien(),
            lignes,
            suivante,
        },
    )
}

const COLONNES: [&str; 11] = [
    "dossier",
    "nom",
    "prénom",
    "téléphone",
    "e-mail",
    "formation",
    "organisme formateur",
    "statut",
    "région",
    "département",
    "source",
];

/// The whole list (up to `EXPORT_MAX` dossiers) as a spreadsheet, like the queues' exports.
pub(super) async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(question): Query<Question>,
) -> Response {
    let (_, viewer, perimetre) = match lecteur(&state, &headers, &question).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let format = match crate::http::fichiers::format(question.format.as_deref()) {
        Ok(format) => format,
        Err(error) => return error.into_response(),
    };
    let date = question.date();
    let rows = match page(&state.pool, &state.journal, &viewer, &perimetre, date, "", EXPORT_MAX).await {
        Ok(rows) => rows,
        Err(error) => return internal(format!("{error:?}")),
    };
    let ids: Vec<&str> = rows.iter().map(|r| r.dossier_id.as_str()).collect();
    let noms = match identites(&state, &ids).await {
        Ok(noms) => noms,
        Err(error) => return internal(error),
    };
    let cellules: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let i = noms.get(&r.dossier_id).cloned().unwrap_or_default();
            vec![
                r.dossier_id.clone(),
                i.nom,
                i.prenom,
                i.telephone.unwrap_or_default(),
                i.email.unwrap_or_default(),
                r.cfd.clone().or_else(|| r.rncp.clone()).unwrap_or_default(),
                r.nom_formateur
                    .clone()
                    .unwrap_or_else(|| format!("{}:{}", r.uai_formateur, r.siret_formateur)),
                statut_at(&r.parcours.0, date).map_or("", |s| s.as_str()).to_owned(),
                r.region.clone(),
                r.departement.clone(),
                r.source.clone(),
            ]
        })
        .collect();
    crate::http::fichiers::reponse(
        &format,
        &format!("dossiers-{date}"),
        &COLONNES,
        &cellules,
        &[("", "Dossiers")],
    )
    .unwrap_or_else(IntoResponse::into_response)
}

#[derive(Template)]
#[template(path = "console/dossier.html")]
pub struct Fiche {
    nav: super::pages::Nav,
    csrf: String,
    id: String,
    identite: super::pages::Identite,
    formation: String,
    organisme: String,
    source: String,
    parcours: Vec<(String, &'static str)>,
    contrats: Vec<Contrat>,
    /// The reader may declare a rupture (the organisme, or an administrator).
    declare: bool,
    aujourdhui: String,
    message: Option<Message>,
    /// The queue's sheet of the rupture just declared.
    entree: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Retour {
    entree: Option<String>,
}

pub(super) async fn fiche(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(retour): Query<Retour>,
) -> Response {
    let message = retour.entree.as_ref().map(|_| Message::Succes("Rupture enregistrée.".into()));
    afficher(&state, &headers, &id, StatusCode::OK, message, retour.entree).await
}

async fn afficher(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    status: StatusCode,
    message: Option<Message>,
    entree: Option<String>,
) -> Response {
    let (session, viewer, _) = match autorise(state, headers, |v| v.principal().map(|_| ()), REFUS).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let row = match lisible(&state.pool, &viewer, id).await {
        Ok(Some(row)) => row,
        Ok(None) | Err(AccessError::Forbidden(_)) => {
            return render(
                StatusCode::NOT_FOUND,
                &Refus::new("Aucun dossier que vous puissiez lire ne porte cet identifiant."),
            );
        }
        Err(error) => return internal(format!("{error:?}")),
    };
    let stream = row.stream().to_owned();
    let events = match state.store.read_streams(std::slice::from_ref(&stream)).await {
        Ok(mut read) => read.remove(&stream).unwrap_or_default(),
        Err(error) => return internal(error),
    };
    let details = serde_json::json!({ "console": true });
    if let Err(error) = state.journal.record(&session.principal, "dossier", &row.dossier_id, details).await {
        return internal(error);
    }
    let (formation, contrats) = parcours(&events);
    let identite =
        identites(state, &[row.dossier_id.as_str()]).await.ok().and_then(|mut i| i.remove(&row.dossier_id));
    let role = session.principal.role;
    let page = Fiche {
        nav: super::pages::Nav::of(&session),
        csrf: session.csrf.clone(),
        id: row.dossier_id.clone(),
        identite: identite.unwrap_or_default(),
        formation,
        organisme: row
            .nom_formateur
            .clone()
            .unwrap_or_else(|| format!("{}:{}", row.uai_formateur, row.siret_formateur)),
        source: row.source.clone(),
        parcours: row
            .parcours
            .0
            .iter()
            .map(|p| (p.date.format("%d/%m/%Y").to_string(), statut_libelle(p.statut)))
            .collect(),
        contrats,
        declare: matches!(role, Role::OrganismeFormation | Role::Administrateur)
            && !stream.starts_with("deca-"),
        aujourdhui: Utc::now().date_naive().to_string(),
        message,
        entree,
    };
    render(status, &page)
}

#[derive(Deserialize)]
pub(super) struct Declaration {
    csrf: String,
    date_rupture: String,
    #[serde(default)]
    cause: String,
}

pub(super) async fn declarer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Declaration>,
) -> Response {
    let (session, viewer, _) = match autorise(&state, &headers, |v| v.principal().map(|_| ()), REFUS).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if session.csrf != form.csrf {
        return refuse_csrf();
    }
    let outcome = async {
        // Only a dossier the reader may read: the command's own check names no other.
        if lisible(&state.pool, &viewer, &id)
            .await
            .map_err(|e| CommandError::Forbidden(format!("{e:?}")))?
            .is_none()
        {
            return Err(CommandError::invalid(
                "dossier",
                format!("{id} : aucun dossier que vous puissiez modifier"),
            ));
        }
        let date_rupture = NaiveDate::parse_from_str(form.date_rupture.trim(), "%Y-%m-%d").map_err(|_| {
            CommandError::invalid("dateRupture", format!("{:?} n'est pas une date", form.date_rupture))
        })?;
        let cause = Some(form.cause.trim().to_owned()).filter(|c| !c.is_empty());
        let command = DeclarerRupture { dossier: id.clone(), date_rupture, cause };
        declarer_rupture(&state.store, &viewer, Channel::Console, command).await
    };
    let (status, message) = match outcome.await {
        Ok(recorded) => {
            rattraper(&state, recorded.position).await;
            let entree = encode(&recorded.entree);
            return redirect(&format!("/console/dossiers/{id}?entree={entree}"), Vec::new());
        }
        Err(error) => match refus_commande(error) {
            Ok(refus) => refus,
            Err(failure) => return internal(failure),
        },
    };
    afficher(&state, &headers, &id, status, Some(Message::Erreur(message)), None).await
}
