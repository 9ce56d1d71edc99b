//! The indicators as known at a time (domain.md §6, for auditors): the département cube as the log
//! knew it at a position P, from the knowledge-time history (`historique`) and instantanés of it.
//!
//! An instantané at position S is a schema `connu_S` holding `rm_indicateurs_departement` in its usual
//! shape (daily changes and monthly sums) for the history up to S, and, in place of the pending table,
//! a view of the history rows after S up to the position a transaction asks for
//! (`tba.connu_jusqua`). With that schema first on the search path, the ordinary cube query
//! (`query::indicateurs`) answers "as known at P" reading the instantané plus the rows since: a query
//! costs one month of the cube's rows plus the history since the instantané, whatever the log's size.
//! Instantanés are built from the previous one and the history between, never copied from the live
//! cube, so they are exact whenever they are taken. Only the département cube is kept this way (the
//! national, région, département and académie groupings and filters); the other questions are answered
//! from the dossiers' versions (`versions`).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row as _};

use super::cubes::{CUBES, Deltas};
use super::query::{Dimension, Filtre, plan};

/// The projection version whose history the instantanés sum (`DossiersProjection::version`).
pub const VERSION: i32 = 2;

/// Whether a question "as known at" is answered from the instantanés: its grouping and filters are in
/// the département cube.
fn par_instantanes(dimension: Dimension, filtre: &Filtre) -> bool {
    plan(dimension, filtre) == CUBES[0].table
}

/// The last log position recorded at or before `instant` (0 before the first event).
pub async fn position_at(conn: &mut PgConnection, instant: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        "SELECT position FROM events WHERE recorded_at <= $1 ORDER BY recorded_at DESC, position DESC LIMIT 1",
        instant
    )
    .fetch_optional(conn)
    .await?
    .unwrap_or(0))
}

/// The position the history is complete up to: the live `dossiers` projection's checkpoint.
pub async fn position_projetee(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    let name = crate::runtime::checkpoint_name("dossiers", crate::dossiers::VERSION);
    Ok(sqlx::query_scalar!("SELECT position FROM checkpoints WHERE name = $1", name)
        .fetch_optional(conn)
        .await?
        .unwrap_or(0))
}

fn schema_of(position: i64) -> String {
    format!("connu_{position}")
}

/// The latest instantané at or before `position` (position 0, the empty one, is always there once
/// `prendre` has run once; `None` before).
async fn instantane_avant(
    conn: &mut PgConnection,
    position: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT position, schema FROM indicateurs_instantanes WHERE version = $1 AND position <= $2
         ORDER BY position DESC LIMIT 1",
        VERSION,
        position
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.position, r.schema)))
}

/// In the caller's transaction, read the département cube as known at `position` from now on: the
/// search path names the nearest instantané (made when there is none yet).
pub async fn lire(tx: &mut PgConnection, position: i64) -> Result<i64, sqlx::Error> {
    let (depuis, schema) = match instantane_avant(tx, position).await? {
        Some(found) => found,
        None => (0, creer(tx, 0).await?),
    };
    // A question reads a few thousand pages: compiling it (JIT, for its large estimated cost) would
    // take longer than running it.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET LOCAL search_path TO {schema}, public; SET LOCAL tba.connu_jusqua = '{position}'; SET LOCAL jit = off"
    )))
    .execute(&mut *tx)
    .await?;
    Ok(depuis)
}

/// Create the (empty) schema of an instantané at `position`, and record it.
async fn creer(tx: &mut PgConnection, position: i64) -> Result<String, sqlx::Error> {
    let schema = schema_of(position);
    let cube = CUBES[0].table;
    let pending = CUBES[0].pending;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE;
         CREATE SCHEMA {schema};
         CREATE TABLE {schema}.{cube} (LIKE public.{cube} INCLUDING ALL);
         CREATE VIEW {schema}.{pending} AS
             SELECT annee_scolaire, jour, statut, departement, region, academie, n
             FROM public.rm_indicateurs_historique
             WHERE position > {position} AND position <= current_setting('tba.connu_jusqua')::bigint;"
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO indicateurs_instantanes (position, version, schema) VALUES ($1, $2, $3)
         ON CONFLICT (version, position) DO UPDATE SET schema = excluded.schema, cree_le = now()",
        position,
        VERSION,
        schema
    )
    .execute(&mut *tx)
    .await?;
    Ok(schema)
}

/// Take an instantané at `position` (at most the projected position): the previous instantané's daily
/// changes plus the history between, written in the cube's shape. Returns the position taken.
pub async fn prendre(pool: &PgPool, position: i64) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let position = position.min(position_projetee(&mut tx).await?).max(0);
    let precedent = instantane_avant(&mut tx, position).await?;
    if precedent.as_ref().is_some_and(|(p, _)| *p == position) {
        return Ok(position);
    }
    let mut deltas = Deltas::default();
    let cube = &CUBES[0];
    if let Some((_, schema)) = &precedent {
        let sql = format!(
            "SELECT annee_scolaire, jour, statut, departement, region, academie, n
             FROM {schema}.{} WHERE NOT cumul",
            cube.table
        );
        for row in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *tx).await? {
            deltas.pending(0, cube, &row)?;
        }
    }
    let depuis = precedent.as_ref().map_or(0, |(p, _)| *p);
    let rows = sqlx::query(
        "SELECT annee_scolaire, jour, statut, departement, region, academie, sum(n)::integer AS n
         FROM rm_indicateurs_historique WHERE position > $1 AND position <= $2
         GROUP BY annee_scolaire, jour, statut, departement, region, academie",
    )
    .bind(depuis)
    .bind(position)
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        deltas.pending(0, cube, row)?;
    }
    let schema = creer(&mut tx, position).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET LOCAL search_path TO {schema}, public")))
        .execute(&mut *tx)
        .await?;
    deltas.merge(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(position, history_rows = rows.len(), "indicators instantané taken");
    Ok(position)
}

/// Take an instantané at the projected position when `every` events or a day have passed since the
/// latest one. Returns the position taken, if any.
pub async fn prendre_si_du(pool: &PgPool, every: i64) -> Result<Option<i64>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let projetee = position_projetee(&mut conn).await?;
    let latest = sqlx::query(
        "SELECT position, cree_le < now() - interval '1 day' AS vieux FROM indicateurs_instantanes
         WHERE version = $1 ORDER BY position DESC LIMIT 1",
    )
    .bind(VERSION)
    .fetch_optional(&mut *conn)
    .await?;
    let (latest, vieux) = match latest {
        Some(row) => (row.try_get::<i64, _>(0)?, row.try_get::<bool, _>(1)?),
        None => (0, true),
    };
    drop(conn);
    if projetee > latest && (projetee - latest >= every || vieux) {
        return Ok(Some(prendre(pool, projetee).await?));
    }
    Ok(None)
}

/// Forget every instantané (after a rebuild of the projection, whose history they summed), and make the
/// empty one at position 0 again: its view named the history table the rebuild replaced.
pub async fn oublier(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    let schemas: Vec<String> =
        sqlx::query_scalar!("DELETE FROM indicateurs_instantanes WHERE position > 0 RETURNING schema")
            .fetch_all(&mut *tx)
            .await?;
    for schema in schemas {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
            .execute(&mut *tx)
            .await?;
    }
    creer(tx, 0).await?;
    Ok(())
}

/// The indicators at `date` as known at `instant` (at most the projected position), for any grouping
/// and filter: from the département cube's instantanés where it holds the question, else from the
/// dossiers' versions (`versions`); with the position the answer is as of.
pub async fn indicateurs(
    pool: &PgPool,
    instant: DateTime<Utc>,
    date: chrono::NaiveDate,
    dimension: Dimension,
    filtre: &Filtre,
) -> Result<(i64, Vec<super::Groupe>), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // One view of the database for the whole answer: the projection's position, its read model and
    // its history agree.
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
    let position = position_at(&mut tx, instant).await?.min(position_projetee(&mut tx).await?);
    let groupes = if par_instantanes(dimension, filtre) {
        lire(&mut tx, position).await?;
        super::query::indicateurs(&mut tx, date, dimension, filtre).await?
    } else {
        super::versions::indicateurs(&mut tx, position, date, dimension, filtre).await?
    };
    tx.rollback().await?;
    Ok((position, groupes))
}
