//! The Mission Locale advisor's queue (domain.md §14, §7): the counts per list and rupture month first,
//! then a list (à traiter, à recontacter, traités; prioritaires first, then the newest ruptures),
//! narrowed by the residence's postal code; a person's sheet; qualifying a situation. Read through the
//! same query functions and access rules as the GraphQL `ruptures`, `rupture` and `renseignerSituation`;
//! every page that shows a young person is recorded in the access journal like their GraphQL reads.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use events::rupture::{Connaissance, Situation};
use projections::ruptures::query::{self, Demande, Liste};
use serde::Deserialize;

use super::fiche::{afficher, auteur, identites, issue, lecteur};
use super::pages::{File, LigneFile, Message, Refus, internal, render};
use crate::app::AppState;
use crate::app::CommandError;
use crate::app::ruptures::{RenseignerSituation, renseigner_situation};

/// A page of a list holds this many entries.
const PAGE: i64 = 100;

/// A postal code as a filter: five letters or digits, else none.
pub(super) fn code_postal(cp: Option<String>) -> Option<String> {
    cp.map(|c| c.trim().to_owned()).filter(|c| c.len() == 5 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[derive(Deserialize)]
pub(super) struct Filtre {
    liste: Option<String>,
    cp: Option<String>,
}

pub(super) async fn file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filtre): Query<Filtre>,
) -> Response {
    let (session, _, qui) = match lecteur(&state, &headers).await {
        Ok(reader) => reader,
        Err(page) => return page,
    };
    let liste = filtre.liste.as_deref().and_then(Liste::parse).unwrap_or(Liste::ATraiter);
    let cp = code_postal(filtre.cp);
    let jour = Utc::now().date_naive();
    let mut conn = match state.pool.acquire().await {
        Ok(conn) => conn,
        Err(error) => return internal(error),
    };
    let comptes = match query::comptes(&mut conn, &qui, jour, cp.as_deref()).await {
        Ok(comptes) => comptes,
        Err(error) => return internal(error),
    };
    let demande = Demande {
        qui: qui.clone(),
        jour,
        liste: Some(liste),
        code_postal: cp.clone(),
        mois: None,
        anciennete: None,
        apres: None,
        premiers: PAGE,
    };
    let lignes = match query::liste(&mut conn, &demande).await {
        Ok(lignes) => lignes,
        Err(error) => return internal(error),
    };
    drop(conn);
    let dossiers: Vec<&str> = lignes.iter().map(|l| l.dossier_id.as_str()).collect();
    let noms = match identites(&state, &dossiers).await {
        Ok(noms) => noms,
        Err(error) => return internal(error),
    };
    // That a queue was looked at is itself a read, an empty page too.
    let ids: Vec<&str> = lignes.iter().map(|l| l.entree.as_str()).collect();
    let subject = format!("{qui:?} {} au {jour} (console)", liste.as_str());
    let details = serde_json::json!({ "entrees": ids });
    if let Err(error) = state.journal.record(&session.principal, "ruptures", &subject, details).await {
        return internal(error);
    }
    let lignes = lignes
        .iter()
        .map(|l| LigneFile::of(l, noms.get(&l.dossier_id).cloned().unwrap_or_default(), jour))
        .collect();
    render(StatusCode::OK, &File::new(&session, comptes, liste, cp, lignes))
}

#[derive(Deserialize)]
pub(super) struct Retour {
    ok: Option<String>,
}

pub(super) async fn fiche(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(entree): Path<String>,
    Query(retour): Query<Retour>,
) -> Response {
    let message = retour.ok.as_deref().map(|ok| {
        Message::Succes(
            match ok {
                "message" => "Message envoyé.",
                "lu" => "Fil marqué comme lu.",
                "demande" => "Demande de suivi conjoint envoyée à la Mission Locale.",
                "refus" => "Partage refusé : la Mission Locale ne verra pas cette entrée.",
                _ => "Situation enregistrée.",
            }
            .into(),
        )
    });
    afficher(&state, &headers, &entree, StatusCode::OK, message).await
}

#[derive(Deserialize)]
pub(super) struct Qualification {
    csrf: String,
    situation: String,
    #[serde(default)]
    situation_autre: String,
    #[serde(default)]
    commentaire: String,
    #[serde(default)]
    connaissance: String,
    #[serde(default)]
    probleme_type: String,
    #[serde(default)]
    probleme_detail: String,
    #[serde(default)]
    souhaite_rdv: Option<String>,
}

pub(super) async fn qualifier(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(entree): Path<String>,
    Form(form): Form<Qualification>,
) -> Response {
    let viewer = match auteur(&state, &headers, &form.csrf).await {
        Ok(viewer) => viewer,
        Err(page) => return page,
    };
    let texte = |t: String| Some(t.trim().to_owned()).filter(|t| !t.is_empty());
    let Some(situation) = Situation::parse(&form.situation) else {
        let refus = CommandError::invalid(
            "situation",
            format!("{:?} n'est pas une situation connue", form.situation),
        );
        return issue(&state, &headers, &entree, Err(refus), "situation").await;
    };
    let command = RenseignerSituation {
        entree: entree.clone(),
        situation,
        situation_autre: texte(form.situation_autre),
        commentaire: texte(form.commentaire),
        connaissance: Connaissance::parse(&form.connaissance),
        probleme_type: events::rupture::ProblemeType::parse(&form.probleme_type),
        probleme_detail: texte(form.probleme_detail),
        souhaite_rdv: form.souhaite_rdv.is_some(),
    };
    let outcome =
        renseigner_situation(&state.pool, &state.store, &viewer, events::Channel::Console, command).await;
    issue(&state, &headers, &entree, outcome.map(Some), "situation").await
}

/// The queue as a spreadsheet (`format=xlsx`, default, or `csv`; `liste=` one list): a Mission Locale's
/// or a CFA's, exactly as the REST exports give it (a journaled read).
pub(super) async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<crate::http::missions_locales::Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    use axum::response::IntoResponse;
    let (session, _, _) = match lecteur(&state, &headers).await {
        Ok(reader) => reader,
        Err(page) => return page,
    };
    let principal = session.principal.clone();
    let caller = crate::http::caller::Caller(principal.clone());
    let answer = match (&principal.organisme, &principal.scope) {
        (Some(organisme), _) => {
            crate::http::missions_locales::export_organisme(
                State(state),
                caller,
                Path(organisme.to_string()),
                params,
            )
            .await
        }
        (None, Some(scope)) if scope.kind == "MISSION_LOCALE" => {
            crate::http::missions_locales::export(State(state), caller, Path(scope.value.clone()), params)
                .await
        }
        _ => {
            return render(
                StatusCode::FORBIDDEN,
                &Refus::new("L'export est celui d'une Mission Locale ou d'un CFA."),
            );
        }
    };
    answer.into_response()
}
