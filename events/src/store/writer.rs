//! The group-commit writer: one task per process gathers the append requests that arrive while the
//! previous transaction commits, and writes them together in the next one.
//!
//! Under load this turns many small appends into one transaction and one fsync, while each caller
//! still gets its own result (its positions, or its own refusal). A request is answered only after
//! its transaction committed, so nothing acknowledged can be lost.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot, watch};

use super::StoreConfig;
use super::batch::{Known, Prepared, write_locked, write_optimistic};
use crate::envelope::AppendOutcome;
use crate::error::AppendError;

type Results = Vec<Result<AppendOutcome, AppendError>>;

pub(super) enum Job {
    Append {
        requests: Vec<Prepared>,
        reply: oneshot::Sender<Results>,
        enqueued: Instant,
    },
    /// Answered once every job queued before it has been answered.
    Flush(oneshot::Sender<()>),
}

pub(super) fn spawn(pool: PgPool, config: StoreConfig, head: watch::Sender<i64>) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(config.queue_capacity);
    // The writer is the log's critical path: it gets a thread and a runtime of its own, so that busy
    // request handlers never delay a commit or the answers to the callers of the previous one.
    let spawned = std::thread::Builder::new().name("tba-append-writer".into()).spawn(move || {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(run(pool, config, rx, head)),
            Err(error) => tracing::error!(%error, "cannot start the append writer's runtime"),
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the append writer's thread");
    }
    tx
}

/// Append jobs gathered for one transaction.
struct Group {
    requests: Vec<Prepared>,
    /// For each job: where its requests start in `requests`, and where to reply.
    replies: Vec<(usize, oneshot::Sender<Results>, Instant)>,
    flushes: Vec<oneshot::Sender<()>>,
}

/// Commits within this interval of a NOTIFY do not send another: a NOTIFY costs every commit that
/// carries it a global lock, and other processes only need a prompt wake-up, not one per commit. The
/// last commit of a burst is always notified, at most this long after it.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(5);

async fn run(pool: PgPool, config: StoreConfig, mut rx: mpsc::Receiver<Job>, head: watch::Sender<i64>) {
    let mut writer = Writer {
        options: (*pool.connect_options()).clone(),
        conn: None,
        known: None,
        last_notify: Instant::now(),
        unnotified: None,
    };
    // How many jobs the last commit answered: their callers are likely to come back at once.
    let mut answered = 0;
    // The loop ends when every handle on the store is dropped and the queue is drained.
    loop {
        let next = match writer.unnotified {
            Some(position) => match tokio::time::timeout(NOTIFY_INTERVAL, rx.recv()).await {
                Ok(job) => job,
                Err(_) => {
                    writer.notify(position).await;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let Some(first) = next else { break };
        let mut group = Group { requests: Vec::new(), replies: Vec::new(), flushes: Vec::new() };
        let mut events = add(&mut group, first);
        let linger_until = Instant::now() + config.linger;
        while events < config.max_batch_events {
            match rx.try_recv() {
                Ok(job) => events += add(&mut group, job),
                // Linger briefly while fewer callers came back than were just answered: one larger
                // transaction beats two half-full ones, each paying a round of commit latency.
                Err(_) if group.replies.len() < answered && Instant::now() < linger_until => {
                    match tokio::time::timeout_at(linger_until.into(), rx.recv()).await {
                        Ok(Some(job)) => events += add(&mut group, job),
                        Ok(None) | Err(_) => break,
                    }
                }
                Err(_) => break,
            }
        }
        answered = group.replies.len();
        commit(&mut writer, group, &head).await;
    }
    if let Some(position) = writer.unnotified {
        writer.notify(position).await;
    }
}

/// The writer's own connection (no pool round trip per transaction; re-opened after a failure), what
/// it knows of the log since its last commit, and what it has not notified yet.
struct Writer {
    options: PgConnectOptions,
    conn: Option<PgConnection>,
    known: Option<Known>,
    last_notify: Instant,
    /// The head position committed without a NOTIFY since the last one.
    unnotified: Option<i64>,
}

impl Writer {
    async fn write(&mut self, requests: &[Prepared]) -> Result<Results, sqlx::Error> {
        let notify = self.last_notify.elapsed() >= NOTIFY_INTERVAL;
        let result = self.write_with(requests, notify).await;
        match &result {
            Ok(results) => {
                let last =
                    results.iter().flatten().filter(|o| !o.replayed).filter_map(|o| o.positions.last()).max();
                if let Some(&last) = last {
                    if notify {
                        self.last_notify = Instant::now();
                        self.unnotified = None;
                    } else {
                        self.unnotified = Some(last);
                    }
                }
            }
            Err(_) => {
                // The connection may be broken or mid-transaction: start afresh next time.
                self.conn = None;
                self.known = None;
            }
        }
        result
    }

    async fn write_with(&mut self, requests: &[Prepared], notify: bool) -> Result<Results, sqlx::Error> {
        let conn = connection(&mut self.conn, &self.options).await?;
        // While this process is the only writer, one statement per batch: no BEGIN, no lock round trip.
        if let Some(known) = &mut self.known {
            match write_optimistic(conn, known, requests, notify).await {
                Ok(Some(results)) => {
                    metrics::counter!("tba_append_transactions_total", "path" => "optimistic").increment(1);
                    return Ok(results);
                }
                Ok(None) => {}
                // A stale belief can also surface as a unique violation: nothing was written.
                Err(error) => tracing::debug!(%error, "optimistic append failed, taking the lock"),
            }
            self.known = None;
        }
        metrics::counter!("tba_append_transactions_total", "path" => "locked").increment(1);
        let mut tx = conn.begin().await?;
        let (results, known) = write_locked(&mut tx, requests, notify).await?;
        tx.commit().await?;
        self.known = Some(known);
        Ok(results)
    }

    /// Wake the other processes' subscribers for commits made without a NOTIFY.
    async fn notify(&mut self, position: i64) {
        let sent = match connection(&mut self.conn, &self.options).await {
            Ok(conn) => sqlx::query!("SELECT pg_notify('tba_events', $1)", position.to_string())
                .fetch_one(conn)
                .await
                .map(|_| ()),
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            // Listeners re-read the log when their own connection recovers; nothing is lost.
            tracing::warn!(%error, "could not send the commit notification");
            self.conn = None;
        }
        self.last_notify = Instant::now();
        self.unnotified = None;
    }
}

async fn connection<'a>(
    conn: &'a mut Option<PgConnection>,
    options: &PgConnectOptions,
) -> Result<&'a mut PgConnection, sqlx::Error> {
    if conn.is_none() {
        *conn = Some(PgConnection::connect_with(options).await?);
    }
    Ok(conn.as_mut().expect("connected just above"))
}

fn add(group: &mut Group, job: Job) -> usize {
    match job {
        Job::Append { requests, reply, enqueued } => {
            let events = requests.iter().map(Prepared::event_count).sum::<usize>().max(1);
            group.replies.push((group.requests.len(), reply, enqueued));
            group.requests.extend(requests);
            events
        }
        Job::Flush(done) => {
            group.flushes.push(done);
            0
        }
    }
}

async fn commit(writer: &mut Writer, group: Group, head: &watch::Sender<i64>) {
    let mut results = if group.requests.is_empty() {
        Vec::new()
    } else {
        match writer.write(&group.requests).await {
            Ok(results) => results,
            // One request can make a whole transaction fail (a value PostgreSQL refuses): write each
            // request alone, so that it fails alone.
            Err(error) if group.requests.len() > 1 => {
                tracing::warn!(%error, requests = group.requests.len(), "group commit failed, retrying one by one");
                let mut results = Vec::with_capacity(group.requests.len());
                for request in &group.requests {
                    let result = match writer.write(std::slice::from_ref(request)).await {
                        Ok(mut one) => one.pop().expect("one result per request"),
                        Err(error) => Err(unavailable(&error)),
                    };
                    results.push(result);
                }
                results
            }
            Err(error) => vec![Err(unavailable(&error))],
        }
    };
    let appended: usize = results.iter().flatten().filter(|o| !o.replayed).map(|o| o.positions.len()).sum();
    if let Some(last) = results.iter().flatten().filter_map(|o| o.positions.last()).max() {
        head.send_if_modified(|known| {
            let newer = *last > *known;
            if newer {
                *known = *last;
            }
            newer
        });
        metrics::gauge!("tba_log_head_position").set(*head.borrow() as f64);
    }
    metrics::counter!("tba_events_appended_total").increment(appended as u64);
    metrics::histogram!("tba_append_batch_events").record(appended as f64);
    // Reply in reverse so each job takes its own tail of the results.
    for (start, reply, enqueued) in group.replies.into_iter().rev() {
        let mine = results.split_off(start);
        metrics::histogram!("tba_append_latency_seconds").record(enqueued.elapsed().as_secs_f64());
        // A caller that went away still had its events written; it can retry idempotently.
        let _ = reply.send(mine);
    }
    for done in group.flushes {
        let _ = done.send(());
    }
}

fn unavailable(error: &sqlx::Error) -> AppendError {
    tracing::error!(%error, "append failed in the database");
    AppendError::Unavailable(error.to_string())
}
