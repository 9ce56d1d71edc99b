//! One LISTEN connection per store turns commit notifications into a watched head position and
//! watched consumer checkpoints, and tells the vault's memory of data keys which were destroyed.
//!
//! NOTIFY is only a wake-up: a notification sent while the connection was down is lost, so after every
//! reconnection the head and the checkpoints are read again from the database, which stays the truth.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::{CHECKPOINT_CHANNEL, NOTIFY_CHANNEL, checkpoint, read};
use crate::personal::Vault;

type Checkpoints = watch::Sender<HashMap<String, i64>>;

pub(super) fn spawn(pool: PgPool, head: watch::Sender<i64>, checkpoints: Checkpoints, vault: Option<Vault>) {
    tokio::spawn(async move {
        let told = Told { head: &head, checkpoints: &checkpoints, vault: vault.as_ref() };
        tokio::select! {
            () = head.closed() => {}
            () = listen(&pool, &told) => {}
        }
        if let Some(vault) = &vault {
            vault.cache().disconnected();
        }
    });
}

/// What the notifications move: the head, the checkpoints, and the data keys kept in memory (their
/// erasures, told on the same connection as the events committed with them).
struct Told<'a> {
    head: &'a watch::Sender<i64>,
    checkpoints: &'a Checkpoints,
    vault: Option<&'a Vault>,
}

async fn listen(pool: &PgPool, told: &Told<'_>) {
    reconnecting(pool, "event notifications lost, reconnecting", || async {
        let outcome = listen_once(pool, told).await;
        // No data key is served from memory until the connection listens again.
        if let Some(vault) = told.vault {
            vault.cache().disconnected();
        }
        outcome.map(|()| true)
    })
    .await;
}

/// Run `session` (the life of one LISTEN connection on `pool`: `Ok(true)` when it dropped, `Ok(false)`
/// to stop) again and again, waiting longer after each one that could not be made (`Err`, logged
/// with `lost`), until it says to stop or the pool is closed (the process is shutting down).
pub async fn reconnecting<F, S>(pool: &PgPool, lost: &str, mut session: F)
where
    F: FnMut() -> S,
    S: Future<Output = Result<bool, sqlx::Error>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match session().await {
            Ok(true) => backoff = Duration::from_millis(100),
            Ok(false) => return,
            Err(_) if pool.is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, "{lost}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Listen until the connection drops (`Ok`) or cannot be made (`Err`).
async fn listen_once(pool: &PgPool, told: &Told<'_>) -> Result<(), sqlx::Error> {
    let Told { head, checkpoints, vault } = *told;
    let erasures = vault.map(|v| v.cache().channel());
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([NOTIFY_CHANNEL, CHECKPOINT_CHANNEL].into_iter().chain(erasures)).await?;
    // Anything committed before LISTEN took effect was not notified to us: read the head and the
    // checkpoints now, and keep no data key read before.
    if let Some(vault) = vault {
        vault.cache().connected();
    }
    advance(head, read::head(pool).await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?.position);
    for (name, position) in checkpoint::all(pool).await? {
        advance_checkpoint(checkpoints, name, position);
    }
    while let Some(notification) = listener.try_recv().await? {
        if Some(notification.channel()) == erasures {
            if let Some(vault) = vault {
                vault.cache().told(notification.payload());
            }
        } else if notification.channel() == CHECKPOINT_CHANNEL {
            let parsed =
                notification.payload().rsplit_once(' ').and_then(|(n, p)| Some((n, p.parse().ok()?)));
            if let Some((name, position)) = parsed {
                advance_checkpoint(checkpoints, name.to_owned(), position);
            }
        } else if let Ok(position) = notification.payload().parse() {
            advance(head, position);
        }
    }
    Ok(())
}

/// A checkpoint only moves forward here (a rebuild that moves it back is read at the next reconnection).
fn advance_checkpoint(checkpoints: &Checkpoints, name: String, position: i64) {
    checkpoints.send_if_modified(|known| match known.get_mut(&name) {
        Some(p) if *p >= position => false,
        Some(p) => {
            *p = position;
            true
        }
        None => {
            known.insert(name, position);
            true
        }
    });
}

fn advance(head: &watch::Sender<i64>, position: i64) {
    head.send_if_modified(|known| {
        let newer = position > *known;
        if newer {
            *known = position;
        }
        newer
    });
}
