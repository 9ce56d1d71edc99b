//! The perimeter of a TETE_DE_RESEAU key: its réseau's members, as `tba reseaux import` recorded them
//! (`ingestion::reseaux`).

use sqlx::PgPool;

/// The organismes of a réseau, `UAI:SIRET` (none for an unknown réseau).
pub async fn members(pool: &PgPool, reseau: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT uai || ':' || siret AS "organisme!" FROM reseau_organismes WHERE reseau = $1 ORDER BY 1"#,
        reseau
    )
    .fetch_all(pool)
    .await
}
