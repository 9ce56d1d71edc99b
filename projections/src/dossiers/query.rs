//! Reading `rm_dossiers`: dossiers by id or by natural key, and the nominative list of those with a
//! status on a date, filtered as the indicators are. Who may read which is decided by the caller.

use chrono::NaiveDate;
use sqlx::PgPool;
use sqlx::types::Json;

use crate::indicateurs::Filtre;
use crate::status::ChangePoint;

/// A row of `rm_dossiers`, with its organisme formateur's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DossierRow {
    pub dossier_id: String,
    pub annee_scolaire: String,
    pub id_erp_apprenant: String,
    pub uai_formateur: String,
    pub siret_formateur: String,
    pub uai_responsable: String,
    pub siret_responsable: String,
    pub cfd: Option<String>,
    pub rncp: Option<String>,
    pub niveau: Option<i16>,
    pub annee_formation: Option<i16>,
    pub rqth: bool,
    pub retire: bool,
    pub parcours: Json<Vec<ChangePoint>>,
    pub departement: String,
    pub region: String,
    pub academie: String,
    pub position: i64,
    /// `ERP`, `FICHIER` or `DECA`.
    pub source: String,
    pub nom_formateur: Option<String>,
    /// The learner's person key (whose data key seals `apprenant`).
    pub personne: String,
    /// The learner's identity, sealed (`identite`); none without the master key or once erased.
    pub apprenant: Option<Vec<u8>>,
}

impl DossierRow {
    /// The stream of its events: its own, or its DECA contract's.
    pub fn stream(&self) -> &str {
        super::deca::stream_of(&self.dossier_id).unwrap_or(&self.dossier_id)
    }
}

const SELECT: &str = "SELECT d.dossier_id, d.annee_scolaire, d.id_erp_apprenant, d.uai_formateur,
        d.siret_formateur, d.uai_responsable, d.siret_responsable, d.cfd, d.rncp, d.niveau,
        d.annee_formation, d.rqth, d.retire, d.parcours, d.departement, d.region, d.academie, d.position,
        d.source, o.nom AS nom_formateur, d.personne, d.apprenant
    FROM rm_dossiers d
    LEFT JOIN rm_organismes o ON (o.uai, o.siret) = (d.uai_formateur, d.siret_formateur)";

/// The dossiers of `ids` that exist.
pub async fn by_ids(pool: &PgPool, ids: &[String]) -> Result<Vec<DossierRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE d.dossier_id = ANY($1)")))
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// The dossier `id`, if it exists.
pub async fn by_id(pool: &PgPool, id: &str) -> Result<Option<DossierRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE d.dossier_id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The dossier of a natural key (organisme formateur's UAI, année scolaire, id in its software).
pub async fn by_natural_key(
    pool: &PgPool,
    uai_formateur: &str,
    annee_scolaire: &str,
    id_erp_apprenant: &str,
) -> Result<Option<DossierRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE d.uai_formateur = $1 AND d.annee_scolaire = $2 AND d.id_erp_apprenant = $3"
    )))
    .bind(uai_formateur)
    .bind(annee_scolaire)
    .bind(id_erp_apprenant)
    .fetch_optional(pool)
    .await
}

/// A page of the nominative list.
pub struct Liste<'a> {
    /// The années scolaires the date's candidates belong to.
    pub annees: &'a [String],
    /// Their status on this date …
    pub date: NaiveDate,
    /// … is one of these (`INSCRIT`, …).
    pub statuts: &'a [&'a str],
    pub filtre: &'a Filtre,
    /// An organisme's own dossiers only, as formateur or responsable (`UAI`, `SIRET`).
    pub organisme: Option<(&'a str, &'a str)>,
    /// Only the dossiers these organismes (`UAI:SIRET`) are responsable of, when not empty.
    pub responsables: &'a [String],
    /// Dossier ids after this one …
    pub after: &'a str,
    /// … at most this many, in order.
    pub limit: i64,
}

/// A page of dossiers whose status on a date is one of those asked, by id.
pub async fn liste(pool: &PgPool, liste: &Liste<'_>) -> Result<Vec<DossierRow>, sqlx::Error> {
    let filtre = liste.filtre;
    let tranches: Vec<i16> = filtre.tranches.iter().map(|t| t.code()).collect();
    let sql = format!(
        "{SELECT}
         WHERE d.annee_scolaire = ANY($1) AND d.parcours <> '[]' AND d.dossier_id > $2
           AND (cardinality($3::text[]) = 0 OR d.region = ANY($3))
           AND (cardinality($4::text[]) = 0 OR d.departement = ANY($4))
           AND (cardinality($5::text[]) = 0 OR d.academie = ANY($5))
           AND (cardinality($6::text[]) = 0 OR d.uai_formateur || ':' || d.siret_formateur = ANY($6))
           AND (cardinality($7::text[]) = 0 OR d.formation = ANY($7))
           AND (cardinality($8::int2[]) = 0 OR coalesce(d.niveau, 0) = ANY($8))
           AND (cardinality($9::int2[]) = 0 OR coalesce(d.annee_formation, -1) = ANY($9))
           AND (cardinality($10::int2[]) = 0 OR (
               SELECT CASE WHEN a < 18 THEN 0 WHEN a <= 20 THEN 1 WHEN a <= 25 THEN 2 ELSE 3 END
               FROM extract(year FROM age($13::date, d.date_de_naissance)) AS age(a)) = ANY($10))
           AND ($11::text IS NULL
                OR (d.uai_formateur, d.siret_formateur) = ($11, $12)
                OR (d.uai_responsable, d.siret_responsable) = ($11, $12))
           AND coalesce((SELECT p ->> 'statut' FROM jsonb_array_elements(d.parcours) AS p
                         WHERE p ->> 'date' <= $13::date::text ORDER BY p ->> 'date' DESC LIMIT 1),
                        'INSCRIT') = ANY($14)
           AND (cardinality($16::text[]) = 0 OR d.uai_responsable || ':' || d.siret_responsable = ANY($16))
           AND (cardinality($17::text[]) = 0 OR d.source = ANY($17))
         ORDER BY d.dossier_id LIMIT $15"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(liste.annees)
        .bind(liste.after)
        .bind(&filtre.regions)
        .bind(&filtre.departements)
        .bind(&filtre.academies)
        .bind(&filtre.organismes)
        .bind(&filtre.formations)
        .bind(&filtre.niveaux)
        .bind(&filtre.annees_formation)
        .bind(&tranches)
        .bind(liste.organisme.map(|o| o.0))
        .bind(liste.organisme.map(|o| o.1))
        .bind(liste.date)
        .bind(liste.statuts)
        .bind(liste.limit)
        .bind(liste.responsables)
        .bind(filtre.sources.iter().map(|s| s.as_str()).collect::<Vec<_>>())
        .fetch_all(pool)
        .await
}
