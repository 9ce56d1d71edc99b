//! The coverage the sources imply (domain.md §13), per département of the organismes formateurs: how
//! many transmit their dossiers (an ERP or a file sent at least one), how many are known only from
//! DECA (their learners counted from its contracts), and how many from neither (in the referential,
//! no dossier counted).

use sqlx::PgPool;

use crate::indicateurs::Filtre;

/// A département's organismes by what their figures come from.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Couverture {
    /// '' for the organismes the referential does not place.
    pub departement: String,
    pub region: String,
    /// Organismes that transmitted through an ERP or a file.
    pub transmettent: i64,
    /// Organismes that never transmitted, counted from DECA.
    pub deca_seulement: i64,
    /// Organismes of the referential with neither.
    pub aucune: i64,
    /// The DECA dossiers counted (one per contract and année scolaire).
    pub dossiers_deca: i64,
}

/// The coverage per département, for the territories and organismes `filtre` names (its other lists
/// do not apply), in the order of the départements.
pub async fn couverture(pool: &PgPool, filtre: &Filtre) -> Result<Vec<Couverture>, sqlx::Error> {
    sqlx::query_as(
        "WITH deca AS (
             SELECT uai_formateur AS uai, siret_formateur AS siret, count(*) AS n FROM rm_dossiers
             WHERE source = 'DECA' GROUP BY 1, 2
         ), organismes AS (
             SELECT uai, siret FROM rm_organismes
             UNION SELECT uai, siret FROM rm_organismes_transmissions
             UNION SELECT uai, siret FROM deca
         )
         SELECT coalesce(r.departement, '') AS departement, coalesce(min(r.region), '') AS region,
                count(t.uai) AS transmettent,
                count(*) FILTER (WHERE t.uai IS NULL AND d.uai IS NOT NULL) AS deca_seulement,
                count(*) FILTER (WHERE t.uai IS NULL AND d.uai IS NULL) AS aucune,
                coalesce(sum(d.n), 0)::bigint AS dossiers_deca
         FROM organismes o
         LEFT JOIN rm_organismes r USING (uai, siret)
         LEFT JOIN rm_organismes_transmissions t USING (uai, siret)
         LEFT JOIN deca d USING (uai, siret)
         WHERE (cardinality($1::text[]) = 0 OR r.region = ANY($1))
           AND (cardinality($2::text[]) = 0 OR r.departement = ANY($2))
           AND (cardinality($3::text[]) = 0 OR r.academie = ANY($3))
           AND (cardinality($4::text[]) = 0 OR o.uai || ':' || o.siret = ANY($4))
         GROUP BY 1 ORDER BY 1",
    )
    .bind(&filtre.regions)
    .bind(&filtre.departements)
    .bind(&filtre.academies)
    .bind(&filtre.organismes)
    .fetch_all(pool)
    .await
}
