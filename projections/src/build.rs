//! Building a projection beside the live one: into a schema of its own, from the log, up to the head
//! (a rebuild, then swapped in atomically) or up to a past position (an auditor's replay, left in its
//! schema to be queried, compared or dropped). The projector's SQL is unqualified, so running it with
//! `search_path` set to the target schema writes there, while the log is read from `public`.
//!
//! The swap moves the live tables out and the rebuilt ones in, and sets the live checkpoint to the
//! rebuilt position, in one transaction that holds the live tables' locks: queries see the old read
//! model or the new one, never a half-built one. A live runner blocked by the swap finds its checkpoint
//! moved (see `checkpoint::advance`), rolls back, and resumes from the rebuilt position.

use events::EventStore;
use events::store::checkpoint;
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::runtime::{ProjectionError, Projector, checkpoint_name};

/// Events per batch when building batch after batch.
const BATCH: i64 = 5000;

/// A schema name as SQL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn exec(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(conn).await.map(|_| ())
}

/// Create `schema` afresh with empty copies of the projection's tables, without their indexes (added
/// once the tables are filled: several times faster than maintaining them row after row).
pub async fn create_schema<P: Projector>(
    pool: &PgPool,
    projector: &P,
    schema: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    exec(&mut tx, format!("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}", ident(schema))).await?;
    for table in projector.tables() {
        let sql = format!(
            "CREATE TABLE {}.{table} (LIKE public.{table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
            ident(schema)
        );
        exec(&mut tx, sql).await?;
        // Storage parameters (fillfactor…) are not copied by LIKE.
        let options: Option<Vec<String>> =
            sqlx::query_scalar("SELECT reloptions::text[] FROM pg_class WHERE oid = $1::regclass")
                .bind(format!("public.{table}"))
                .fetch_one(&mut *tx)
                .await?;
        if let Some(options) = options.filter(|o| !o.is_empty()) {
            exec(&mut tx, format!("ALTER TABLE {}.{table} SET ({})", ident(schema), options.join(", ")))
                .await?;
        }
    }
    tx.commit().await
}

/// Give `tables` of the schema first on `tx`'s search path the indexes and key constraints of the
/// live ones, unless they have some already. A build adds them to a table before it writes there with
/// `ON CONFLICT`, and `project_until` to every table once built.
pub async fn add_indexes(tx: &mut PgConnection, tables: &[&str]) -> Result<(), sqlx::Error> {
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text").fetch_one(&mut *tx).await?;
    for table in tables {
        let indexed: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND tablename = $2)",
        )
        .bind(&schema)
        .bind(table)
        .fetch_one(&mut *tx)
        .await?;
        if indexed {
            continue;
        }
        let schema = &schema;
        let live = format!("public.{table}");
        let keys: Vec<(String, String)> = sqlx::query_as(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = $1::regclass AND contype IN ('p', 'u')",
        )
        .bind(&live)
        .fetch_all(&mut *tx)
        .await?;
        for (name, definition) in keys {
            let sql =
                format!("ALTER TABLE {}.{table} ADD CONSTRAINT {} {definition}", ident(schema), ident(&name));
            exec(tx, sql).await?;
        }
        // Other indexes, their definition's table renamed: `CREATE INDEX name ON <table> USING …`.
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
             WHERE i.indrelid = $1::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        )
        .bind(&live)
        .fetch_all(&mut *tx)
        .await?;
        for definition in indexes {
            let (Some((head, _)), Some((_, tail))) =
                (definition.split_once(" ON "), definition.split_once(" USING "))
            else {
                return Err(sqlx::Error::Protocol(format!("unexpected index definition: {definition}")));
            };
            exec(tx, format!("{head} ON {}.{table} USING {tail}", ident(schema))).await?;
        }
    }
    Ok(())
}

/// Point `tx` at `schema`'s tables (and the log in `public`).
async fn search_path(tx: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    exec(tx, format!("SET LOCAL search_path TO {}, public", ident(schema))).await
}

/// Project the log up to `until` (the head when `None`) into `schema`'s empty tables, in one
/// transaction; returns the position reached. `progress(done, target)` is called as it goes.
pub async fn project_until<P: Projector>(
    store: &EventStore,
    projector: &P,
    schema: &str,
    until: Option<i64>,
    progress: impl Fn(i64, i64) + Send + Sync,
) -> Result<i64, ProjectionError> {
    let target = match until {
        Some(position) => position,
        None => store.head().await?.position,
    };
    let mut tx = store.pool().begin().await?;
    search_path(&mut tx, schema).await?;
    // Indexes are built once the tables are full: give their sorts room to stay in memory.
    exec(&mut tx, "SET LOCAL maintenance_work_mem = '512MB'".to_owned()).await?;
    if let Err(error) = projector.build(store, &mut tx, target, &progress).await {
        if !crate::runtime::refuses_events(&error) {
            return Err(error);
        }
        // An event the one-pass build cannot apply: build again batch after batch, as live, where
        // such an event is found and set aside (see `runtime::apply_admitted`).
        tracing::warn!(projection = projector.name(), %error, "building again batch after batch");
        tx.rollback().await?;
        tx = store.pool().begin().await?;
        search_path(&mut tx, schema).await?;
        exec(&mut tx, "SET LOCAL maintenance_work_mem = '512MB'".to_owned()).await?;
        in_batches(store, projector, &mut tx, target, &progress).await?;
    }
    add_indexes(&mut tx, projector.tables()).await?;
    projector.settle(&mut tx).await?;
    tx.commit().await?;
    progress(target, target);
    Ok(target)
}

/// The default build: the log read in position order and applied batch after batch, as when live.
pub(crate) async fn in_batches<P: Projector>(
    store: &EventStore,
    projector: &P,
    tx: &mut PgConnection,
    until: i64,
    progress: &(dyn Fn(i64, i64) + Send + Sync),
) -> Result<(), ProjectionError> {
    add_indexes(tx, projector.tables()).await?;
    let mut after = 0;
    while after < until {
        let mut events = store.read_all(after, BATCH.min(until - after)).await?;
        events.retain(|e| e.position <= until);
        let Some(last) = events.last().map(|e| e.position) else { break };
        crate::runtime::apply_admitted(projector, tx, &events).await?;
        after = last;
        progress(after, until);
    }
    Ok(())
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
        search_path(&mut tx, schema).await?;
        crate::runtime::apply_admitted(projector, &mut tx, &events).await?;
        after = last;
    }
    search_path(&mut tx, schema).await?;
    projector.settle(&mut tx).await?;
    exec(&mut tx, "SET LOCAL search_path TO public".to_owned()).await?;
    let retired = format!("{schema}_retired");
    exec(&mut tx, format!("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}", ident(&retired))).await?;
    for table in projector.tables() {
        exec(&mut tx, format!("ALTER TABLE public.{table} SET SCHEMA {}", ident(&retired))).await?;
        exec(&mut tx, format!("ALTER TABLE {}.{table} SET SCHEMA public", ident(schema))).await?;
    }
    projector.swapped(&mut tx).await?;
    let name = checkpoint_name(projector.name(), projector.version());
    let live = checkpoint::load(&mut tx, &name).await?;
    checkpoint::advance(&mut tx, &name, live, after).await?;
    exec(&mut tx, format!("DROP SCHEMA {} CASCADE; DROP SCHEMA {} CASCADE", ident(&retired), ident(schema)))
        .await?;
    tx.commit().await?;
    // The swapped-in tables have no statistics yet: without them, the planner would guess row counts
    // until autovacuum gets to them.
    let mut conn = store.pool().acquire().await?;
    for table in projector.tables() {
        exec(&mut conn, format!("ANALYZE public.{table}")).await?;
    }
    Ok(after)
}

/// A deterministic checksum of the projection's tables in `schema`, settled first (see
/// `Projector::settle`): SHA-256 over every row's text, in row order, table by table. Two builds from
/// the same log give the same checksum, and so does the live read model projected up to the same
/// position.
pub async fn checksum<P: Projector>(
    pool: &PgPool,
    projector: &P,
    schema: &str,
) -> Result<String, ProjectionError> {
    let mut digest = Sha256::new();
    let mut conn = pool.begin().await?;
    search_path(&mut conn, schema).await?;
    projector.settle(&mut conn).await?;
    for table in projector.tables() {
        digest.update(table.as_bytes());
        let sql = projector.checksum_rows(table, &format!("{}.{table}", ident(schema)));
        let mut rows = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            digest.update((row.len() as u64).to_be_bytes());
            digest.update(row.as_bytes());
        }
    }
    conn.commit().await?;
    Ok(hex::encode(digest.finalize()))
}
