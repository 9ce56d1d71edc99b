//! One LISTEN connection per process turns commit notifications into a watched head position.
//!
//! NOTIFY is only a wake-up: a notification sent while the connection was down is lost, so after every
//! reconnection the head is read again from the log, which stays the truth.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::{NOTIFY_CHANNEL, read};

pub(super) fn spawn(pool: PgPool, head: watch::Sender<i64>) {
    tokio::spawn(async move {
        tokio::select! {
            () = head.closed() => {}
            () = listen(&pool, &head) => {}
        }
    });
}

async fn listen(pool: &PgPool, head: &watch::Sender<i64>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen_once(pool, head).await {
            Ok(()) => backoff = Duration::from_millis(100),
            // The service is shutting down.
            Err(_) if pool.is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, "event notifications lost, reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Listen until the connection drops (`Ok`) or cannot be made (`Err`).
async fn listen_once(pool: &PgPool, head: &watch::Sender<i64>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    // Anything committed before LISTEN took effect was not notified to us: read the head now.
    advance(head, read::head(pool).await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?.position);
    while let Some(notification) = listener.try_recv().await? {
        if let Ok(position) = notification.payload().parse() {
            advance(head, position);
        }
    }
    Ok(())
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
