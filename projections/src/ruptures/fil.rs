//! Reading the thread between a CFA and a Mission Locale (domain.md §11): an entry's messages, oldest
//! first, and what each side has not read yet, per entry and in all. A person's thread is what was
//! recorded under their key and under the keys their dossiers had before an identity correction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use events::fil::Cote;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::query::Qui;

/// A message of the thread.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Message {
    /// The entry whose thread it is.
    pub entree: String,
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
    /// `ORGANISME` or `MISSION_LOCALE`.
    pub cote: String,
    pub organisation: String,
    pub principal: String,
    /// None once the person is erased.
    pub texte: Option<String>,
}

/// The keys of each entry: its own and those its dossiers had before.
const CLES: &str = "cles(entree, cle) AS (
        SELECT e, e FROM unnest($1::text[]) AS e
        UNION SELECT r.entree, unnest(r.anciennes) FROM rm_ruptures r WHERE r.entree = ANY($1) AND r.active)";

/// The messages about the persons `entrees`, each thread oldest first.
pub async fn messages(conn: &mut PgConnection, entrees: &[String]) -> Result<Vec<Message>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH {CLES}
         SELECT c.entree, m.position, m.recorded_at, m.cote, m.organisation, m.principal, m.texte
         FROM cles c JOIN rm_rupture_messages m ON m.entree = c.cle ORDER BY c.entree, m.position"
    )))
    .bind(entrees)
    .fetch_all(conn)
    .await
}

/// The side's read position in each entry's thread (`rm_rupture_lus` over the entry's keys).
const LU: &str = "lu(entree, position) AS (
        SELECT c.entree, max(l.position) FROM cles c JOIN rm_rupture_lus l ON l.entree = c.cle
        WHERE l.cote = $2 GROUP BY c.entree)";

/// How far `cote` has read the thread of each of `entrees` (entries it never read are left out).
pub async fn lus(
    conn: &mut PgConnection,
    entrees: &[String],
    cote: Cote,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    par_entree(conn, format!("WITH {CLES}, {LU} SELECT entree, position FROM lu"), entrees, cote).await
}

/// For each of `entrees`, how many messages of the other side `cote` has not read (entries without
/// any are left out).
pub async fn non_lus(
    conn: &mut PgConnection,
    entrees: &[String],
    cote: Cote,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let sql = format!(
        "WITH {CLES}, {LU}
         SELECT c.entree, count(*) FROM cles c
         JOIN rm_rupture_messages m ON m.entree = c.cle AND m.cote <> $2
         LEFT JOIN lu ON lu.entree = c.entree
         WHERE m.position > coalesce(lu.position, 0)
         GROUP BY c.entree"
    );
    par_entree(conn, sql, entrees, cote).await
}

/// A figure per entry, by a query of the entries (`$1`) and the side (`$2`).
async fn par_entree(
    conn: &mut PgConnection,
    sql: String,
    entrees: &[String],
    cote: Cote,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(entrees).bind(cote.as_str()).fetch_all(conn).await?;
    Ok(rows.into_iter().collect())
}

/// Of every entry `qui` reads, how many messages of the other side `cote` has not read.
pub async fn non_lus_total(conn: &mut PgConnection, qui: &Qui, cote: Cote) -> Result<i64, sqlx::Error> {
    let mut q = QueryBuilder::<Postgres>::new(
        "WITH lues AS (SELECT DISTINCT r.entree, r.anciennes FROM rm_ruptures r WHERE r.active",
    );
    match qui {
        Qui::Tout => {}
        Qui::MissionLocale(ml) => {
            q.push(" AND r.ml_id = ").push_bind(ml.clone());
        }
        Qui::Organisme(uai, siret) => {
            q.push(" AND ((r.uai_formateur, r.siret_formateur) = (")
                .push_bind(uai.clone())
                .push(", ")
                .push_bind(siret.clone())
                .push(") OR (r.uai_responsable, r.siret_responsable) = (")
                .push_bind(uai.clone())
                .push(", ")
                .push_bind(siret.clone())
                .push("))");
        }
    }
    q.push(
        ")
         SELECT count(DISTINCT m.position) FROM lues e
         JOIN rm_rupture_messages m ON m.entree = ANY(e.entree || e.anciennes) AND m.cote <> ",
    )
    .push_bind(cote.as_str())
    .push(
        " WHERE m.position > (SELECT coalesce(max(l.position), 0) FROM rm_rupture_lus l
                              WHERE l.entree = ANY(e.entree || e.anciennes) AND l.cote = ",
    )
    .push_bind(cote.as_str())
    .push(")");
    q.build_query_scalar().fetch_one(conn).await
}
