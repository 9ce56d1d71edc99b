//! Building a projection beside the live one: into a schema of its own, from the log, up to the head
//! (a rebuild, then swapped in atomically) or up to a past position (an auditor's replay, left in its
//! schema to be queried, compared or dropped). The projector's SQL is unqualified, so running it with
//! `search_path` set to the target schema writes there, while the log is read from `public`.
//!
//! The swap moves the live tables out and the rebuilt ones in, and sets the live checkpoint to the
//! rebuilt position, in one transaction that holds the live tables' locks: queries see the old read
//! model or the new one, never a half-built one. A live runner blocked by the swap finds its checkpoint
//! moved (see `checkpoint::advance`), rolls back, and resumes from the rebuilt position.

use events::store::checkpoint;
use events::{EventStore, RecordedEvent};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::runtime::{ProjectionError, Projector, checkpoint_name};

/// Events per transaction while building.
const BATCH: i64 = 5000;

/// A schema name as SQL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn exec(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(conn).await.map(|_| ())
}

/// Create `schema` afresh with empty copies of the projection's tables.
pub async fn create_schema<P: Projector>(
    pool: &PgPool,
    projector: &P,
    schema: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    exec(&mut tx, format!("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}", ident(schema))).await?;
    for table in projector.tables() {
        let sql = format!("CREATE TABLE {}.{table} (LIKE public.{table} INCLUDING ALL)", ident(schema));
        exec(&mut tx, sql).await?;
    }
    tx.commit().await
}

/// Apply one batch into `schema`, in `tx`.
async fn apply_into<P: Projector>(
    tx: &mut PgConnection,
    projector: &P,
    schema: &str,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    exec(tx, format!("SET LOCAL search_path TO {}, public", ident(schema))).await?;
    projector.apply(tx, events).await
}

/// Project the log from `after` to `until` (the head when `None`) into `schema`; returns the position
/// reached. `progress(position, target)` is called after each batch.
pub async fn project_until<P: Projector>(
    store: &EventStore,
    projector: &P,
    schema: &str,
    mut after: i64,
    until: Option<i64>,
    progress: impl Fn(i64, i64),
) -> Result<i64, ProjectionError> {
    let target = match until {
        Some(position) => position,
        None => store.head().await?.position,
    };
    while after < target {
        let events: Vec<RecordedEvent> = store
            .read_all(after, BATCH.min(target - after))
            .await?
            .into_iter()
            .filter(|e| e.position <= target)
            .collect();
        let Some(last) = events.last().map(|e| e.position) else { break };
        let mut tx = store.pool().begin().await?;
        apply_into(&mut tx, projector, schema, &events).await?;
        tx.commit().await?;
        after = last;
        progress(after, target);
    }
    Ok(after)
}

/// Bring `schema` (built up to `built`) to the head and swap it in as the live read model, atomically.
pub async fn swap<P: Projector>(
    store: &EventStore,
    projector: &P,
    schema: &str,
    built: i64,
) -> Result<i64, ProjectionError> {
    let mut tx = store.pool().begin().await?;
    let tables: Vec<String> = projector.tables().iter().map(|t| format!("public.{t}")).collect();
    exec(&mut tx, format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", tables.join(", "))).await?;
    // Whatever was appended meanwhile, under the locks: no live runner can write now.
    let head = events::store::log_head(store.pool()).await?.position;
    let mut after = built;
    while after < head {
        let events = store.read_all(after, BATCH).await?;
        let Some(last) = events.last().map(|e| e.position) else { break };
        apply_into(&mut tx, projector, schema, &events).await?;
        after = last;
    }
    exec(&mut tx, "SET LOCAL search_path TO public".to_owned()).await?;
    let retired = format!("{schema}_retired");
    exec(&mut tx, format!("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}", ident(&retired))).await?;
    for table in projector.tables() {
        exec(&mut tx, format!("ALTER TABLE public.{table} SET SCHEMA {}", ident(&retired))).await?;
        exec(&mut tx, format!("ALTER TABLE {}.{table} SET SCHEMA public", ident(schema))).await?;
    }
    let name = checkpoint_name(projector.name(), projector.version());
    let live = checkpoint::load(&mut tx, &name).await?;
    checkpoint::advance(&mut tx, &name, live, after).await?;
    exec(&mut tx, format!("DROP SCHEMA {} CASCADE; DROP SCHEMA {} CASCADE", ident(&retired), ident(schema)))
        .await?;
    tx.commit().await?;
    Ok(after)
}

/// A deterministic checksum of the projection's tables in `schema`: SHA-256 over every row's text, in
/// row order, table by table. Two builds from the same log give the same checksum.
pub async fn checksum<P: Projector>(
    pool: &PgPool,
    projector: &P,
    schema: &str,
) -> Result<String, sqlx::Error> {
    let mut digest = Sha256::new();
    let mut conn = pool.acquire().await?;
    for table in projector.tables() {
        digest.update(table.as_bytes());
        let sql = format!("SELECT t::text FROM {}.{table} t ORDER BY 1", ident(schema));
        let mut rows = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            digest.update((row.len() as u64).to_be_bytes());
            digest.update(row.as_bytes());
        }
    }
    Ok(hex::encode(digest.finalize()))
}
