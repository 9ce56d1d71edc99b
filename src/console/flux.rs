//! The queue's page kept live (domain.md §14): server-sent events tell the page when the queue it shows
//! changed (a rupture arrived, an entry moved list), and the page's script fetches it again in place,
//! without a reload. A change is seen by the counts of the reader's queue (those of the page's postal
//! code), read again whenever the `ruptures` projection moves, and once a minute anyway.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use projections::ruptures::query::{self, Compte, Qui};
use serde::Deserialize;

use super::fiche::lecteur;
use super::ruptures::code_postal;
use crate::app::AppState;
use crate::read_models::{self, ReadModel};

/// How long the stream waits for the queue to move at a time …
const ATTENTE: Duration = Duration::from_secs(2);
/// … and how many such waits without a move before it reads the counts again anyway (the day turns).
const RELECTURE: u32 = 30;

#[derive(Deserialize)]
pub(super) struct Filtre {
    cp: Option<String>,
}

/// The counts of the queue now (none when they cannot be read: the stream then ends, the browser
/// reconnects).
async fn comptes(state: &AppState, qui: &Qui, cp: Option<&str>) -> Option<(i64, Vec<Compte>)> {
    let mut conn = state.pool.acquire().await.ok()?;
    let position = read_models::position(&mut conn, ReadModel::Ruptures).await.ok()?;
    let comptes = query::comptes(&mut conn, qui, Utc::now().date_naive(), cp).await.ok()?;
    Some((position, comptes))
}

pub(super) async fn flux(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filtre): Query<Filtre>,
) -> Response {
    let (_, _, qui) = match lecteur(&state, &headers).await {
        Ok(reader) => reader,
        Err(page) => return page,
    };
    let cp = code_postal(filtre.cp);
    let Some(start) = comptes(&state, &qui, cp.as_deref()).await else {
        return super::pages::internal("the queue's counts could not be read");
    };
    let checkpoint = read_models::checkpoint(ReadModel::Ruptures);
    let arret = state.arret.subscribe();
    let events = futures_util::stream::unfold(start, move |(position, seen)| {
        let (state, qui, cp, checkpoint) = (state.clone(), qui.clone(), cp.clone(), checkpoint.clone());
        let mut arret = arret.clone();
        async move {
            let mut position = position;
            let mut attentes = 0;
            loop {
                // The service stopping ends the stream (the browser reconnects to the next one).
                let moved = tokio::select! {
                    moved = state.store.wait_checkpoint(&checkpoint, position + 1, ATTENTE) => moved,
                    _ = arret.wait_for(|stopping| *stopping) => return None,
                };
                // The queue changes when the projection moves (or, rarely, with the day): the counts
                // are read again then, and now and then anyway.
                attentes += 1;
                if !moved && attentes < RELECTURE {
                    continue;
                }
                attentes = 0;
                let (now, counts) = comptes(&state, &qui, cp.as_deref()).await?;
                position = now;
                if counts != seen {
                    let event = Event::default().event("file").data(position.to_string());
                    return Some((Ok::<Event, Infallible>(event), (position, counts)));
                }
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}
