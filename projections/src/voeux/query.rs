//! What the `voeux` read model answers: the conversion funnel of a campaign (source and rentrée),
//! grouped and filtered, and the candidates whose vœux did not turn into an apprenticeship.
//!
//! The funnel counts, per group: the vœux formulés (not withdrawn), the candidates (distinct persons),
//! those inscrits (a vœu matched to a dossier), apprentis (a matched dossier went under contract by
//! `date`) and still under contract `jours` days after their first day under contract, without a
//! break (only once that day is past `date`). A candidate counts once in each group their vœux fall in,
//! with what that group's vœux say; the same whether the projection's sums or the vœux answer.

use chrono::NaiveDate;
use sqlx::PgConnection;

/// What a funnel is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    National,
    Academie,
    Region,
    /// The organisme (formateur UAI) the vœux target.
    Organisme,
    /// The source's formation key.
    Formation,
}

impl Dimension {
    /// The column a group's key is read from (a fixed text, never the caller's).
    fn column(self) -> &'static str {
        match self {
            Dimension::National => "''",
            Dimension::Academie => "academie",
            Dimension::Region => "region",
            Dimension::Organisme => "uai_formateur",
            Dimension::Formation => "formation",
        }
    }
}

/// Which vœux count: each list holds alternatives, the lists given must all match (an empty list
/// filters nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filtre {
    pub academies: Vec<String>,
    pub regions: Vec<String>,
    /// UAI of the organisme targeted (formateur or responsable).
    pub organismes: Vec<String>,
    /// The source's formation key, CFD or RNCP code.
    pub formations: Vec<String>,
}

/// A campaign: the source and the rentrée year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Campagne {
    pub source: events::voeu::Source,
    pub rentree: i32,
}

/// One group's funnel.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Groupe {
    pub cle: String,
    pub voeux: i64,
    pub candidats: i64,
    pub inscrits: i64,
    pub apprentis: i64,
    pub maintenus: i64,
}

/// The funnel of a campaign on `date`, one group per value of `dimension` that has vœux, in key order.
pub async fn funnel(
    conn: &mut PgConnection,
    campagne: Campagne,
    dimension: Dimension,
    filtre: &Filtre,
    date: NaiveDate,
    jours: i32,
) -> Result<Vec<Groupe>, sqlx::Error> {
    if let Some(niveau) = niveau_des_sommes(dimension, filtre) {
        return from_sums(conn, campagne, dimension, niveau, filtre, date, jours).await;
    }
    let sql = format!(
        "WITH candidats AS (
             SELECT {cle} AS cle, candidat, count(*) AS voeux,
                    bool_or(dossier_id IS NOT NULL) AS inscrit,
                    coalesce(bool_or(debut <= $7), false) AS apprenti,
                    coalesce(bool_or(debut + $8 <= $7 AND (fin IS NULL OR fin > debut + $8)), false) AS maintenu
             FROM rm_voeux
             WHERE source = $1 AND rentree = $2 AND NOT retire AND {filtre}
             GROUP BY 1, 2)
         SELECT cle, sum(voeux)::bigint AS voeux, count(*) AS candidats,
                count(*) FILTER (WHERE inscrit) AS inscrits, count(*) FILTER (WHERE apprenti) AS apprentis,
                count(*) FILTER (WHERE maintenu) AS maintenus
         FROM candidats GROUP BY cle ORDER BY cle",
        cle = dimension.column(),
        filtre = FILTRE,
    );
    // Only the grouping column varies, and it is one of `Dimension::column`'s fixed texts.
    sqlx::query_as::<_, Groupe>(sqlx::AssertSqlSafe(sql))
        .bind(campagne.source.as_str())
        .bind(campagne.rentree)
        .bind(&filtre.academies)
        .bind(&filtre.regions)
        .bind(&filtre.organismes)
        .bind(&filtre.formations)
        .bind(date)
        .bind(jours)
        .fetch_all(conn)
        .await
}

/// The names of the groups `cles` of `dimension` that have one: académies and régions from the reference
/// tables (by the caller), organismes from the referential (a UAI may have several SIRET: the first), and
/// formations as the campaign's vœux files name them (the name most of its vœux give).
pub async fn libelles(
    conn: &mut PgConnection,
    campagne: Campagne,
    dimension: Dimension,
    cles: &[String],
) -> Result<std::collections::HashMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, String)> = match dimension {
        Dimension::Organisme => sqlx::query_as(
            "SELECT DISTINCT ON (uai) uai, nom FROM rm_organismes WHERE uai = ANY($1) ORDER BY uai, siret",
        )
        .bind(cles)
        .fetch_all(conn)
        .await?,
        Dimension::Formation => {
            sqlx::query_as(
                "SELECT DISTINCT ON (formation) formation, libelle_formation FROM rm_voeux
                 WHERE source = $1 AND rentree = $2 AND formation = ANY($3) AND libelle_formation <> ''
                 GROUP BY formation, libelle_formation
                 ORDER BY formation, count(*) DESC, libelle_formation",
            )
            .bind(campagne.source.as_str())
            .bind(campagne.rentree)
            .bind(cles)
            .fetch_all(conn)
            .await?
        }
        Dimension::National | Dimension::Academie | Dimension::Region => Vec::new(),
    };
    Ok(rows.into_iter().collect())
}

/// The level of the sums the projection keeps per group (`rm_voeux_academies`, `rm_voeux_contrats`)
/// that answers the question, if one does: each candidate counts there once per group, with what the
/// group's vœux say, as the general path counts them. By académie (any académie or région filter); by
/// région or for the whole campaign, on the régions' or the campaign's own sums, or on one académie's
/// when the filter keeps a single one. Filters on organismes or formations, and several académies
/// grouped together, need the vœux themselves.
fn niveau_des_sommes(dimension: Dimension, filtre: &Filtre) -> Option<&'static str> {
    if !filtre.organismes.is_empty() || !filtre.formations.is_empty() {
        return None;
    }
    let (academies, regions) = (filtre.academies.len(), filtre.regions.len());
    match dimension {
        Dimension::Academie => Some("academie"),
        Dimension::Region | Dimension::National if academies == 1 => Some("academie"),
        Dimension::Region if academies == 0 => Some("region"),
        Dimension::National if academies == 0 && regions == 0 => Some("national"),
        Dimension::National if academies == 0 && regions == 1 => Some("region"),
        _ => None,
    }
}

/// The funnel from the sums of `niveau`: what does not depend on the day from the groups' sums, the
/// rest from their counts per first day and length of contract.
async fn from_sums(
    conn: &mut PgConnection,
    campagne: Campagne,
    dimension: Dimension,
    niveau: &str,
    filtre: &Filtre,
    date: NaiveDate,
    jours: i32,
) -> Result<Vec<Groupe>, sqlx::Error> {
    // The group's key: a row's `cle` is its académie, région or '' as its level says, and `region` the
    // région it lies in.
    let cle = match dimension {
        Dimension::Academie => "cle",
        Dimension::Region => "region",
        _ => "''",
    };
    let sql = format!(
        "SELECT cle, sum(voeux)::bigint AS voeux, sum(candidats)::bigint AS candidats,
                sum(inscrits)::bigint AS inscrits, sum(apprentis)::bigint AS apprentis,
                sum(maintenus)::bigint AS maintenus
         FROM (SELECT {cle} AS cle, voeux, candidats, inscrits, 0 AS apprentis, 0 AS maintenus
               FROM rm_voeux_academies
               WHERE source = $1 AND rentree = $2 AND niveau = $7 AND {filtre}
               UNION ALL
               SELECT {cle}, 0, 0, 0, coalesce(sum(candidats) FILTER (WHERE debut <= $5), 0),
                      coalesce(sum(candidats) FILTER (WHERE debut + $6 <= $5 AND (duree < 0 OR duree > $6)), 0)
               FROM rm_voeux_contrats
               WHERE source = $1 AND rentree = $2 AND niveau = $7 AND {filtre}
               GROUP BY 1) AS parts
         GROUP BY cle HAVING sum(candidats) > 0 ORDER BY cle",
        filtre = "(cardinality($3::text[]) = 0 OR cle = ANY($3))
                  AND (cardinality($4::text[]) = 0 OR region = ANY($4))",
    );
    // Only the key varies, and it is one of the fixed texts above.
    sqlx::query_as::<_, Groupe>(sqlx::AssertSqlSafe(sql))
        .bind(campagne.source.as_str())
        .bind(campagne.rentree)
        .bind(&filtre.academies)
        .bind(&filtre.regions)
        .bind(date)
        .bind(jours)
        .bind(niveau)
        .fetch_all(conn)
        .await
}

/// The filter's condition on `rm_voeux`, on parameters $3 to $6.
const FILTRE: &str = "(cardinality($3::text[]) = 0 OR academie = ANY($3))
    AND (cardinality($4::text[]) = 0 OR region = ANY($4))
    AND (cardinality($5::text[]) = 0 OR uai_formateur = ANY($5) OR uai_responsable = ANY($5))
    AND (cardinality($6::text[]) = 0 OR formation = ANY($6) OR cfd = ANY($6) OR rncp = ANY($6))";

/// A candidate whose vœux did not turn into an apprenticeship, with their vœux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonConcretise {
    pub candidat: String,
    /// One of their vœux matched a dossier (inscrit without a contract yet).
    pub inscrit: bool,
    pub voeux: Vec<VoeuLigne>,
}

/// A vœu as the lists show it, with the candidate's identity and contacts as that vœu's file gave them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VoeuLigne {
    pub voeu: String,
    pub candidat: String,
    pub academie: String,
    pub uai_formateur: String,
    pub uai_responsable: Option<String>,
    pub formation: String,
    pub cfd: Option<String>,
    pub rncp: Option<String>,
    pub libelle_formation: Option<String>,
    pub rang: Option<i32>,
    pub ine: Option<String>,
    pub nom: String,
    pub prenoms: String,
    pub date_de_naissance: Option<NaiveDate>,
    pub email: Option<String>,
    pub telephone: Option<String>,
    pub email_responsable: Option<String>,
    pub telephone_responsable: Option<String>,
    pub code_postal: Option<String>,
    pub dossier_id: Option<String>,
}

/// A page of the candidates of a campaign with a vœu in `academies` (every académie when empty) and no
/// contract started by `date`, in candidate order after `after`; and whether more follow. Each
/// candidate is judged on all their vœux of the campaign, wherever they are (a candidate who became an
/// apprentice through a vœu elsewhere is not listed; one with a dossier at an organisme they targeted
/// elsewhere is inscrit): the lists by académie agree with the national one.
pub async fn non_concretises(
    conn: &mut PgConnection,
    campagne: Campagne,
    academies: &[String],
    date: NaiveDate,
    first: i64,
    after: Option<&str>,
) -> Result<(Vec<NonConcretise>, bool), sqlx::Error> {
    let page: Vec<(String, bool)> = sqlx::query_as(
        "WITH asked AS (
             SELECT DISTINCT candidat FROM rm_voeux
             WHERE source = $1 AND rentree = $2 AND NOT retire
               AND (cardinality($3::text[]) = 0 OR academie = ANY($3)) AND candidat > $4)
         SELECT v.candidat, bool_or(v.dossier_id IS NOT NULL)
         FROM rm_voeux v JOIN asked USING (candidat)
         WHERE v.source = $1 AND v.rentree = $2 AND NOT v.retire
         GROUP BY v.candidat
         HAVING NOT coalesce(bool_or(v.debut <= $5), false)
         ORDER BY v.candidat
         LIMIT $6",
    )
    .bind(campagne.source.as_str())
    .bind(campagne.rentree)
    .bind(academies)
    .bind(after.unwrap_or(""))
    .bind(date)
    .bind(first + 1)
    .fetch_all(&mut *conn)
    .await?;
    let more = page.len() as i64 > first;
    let page: Vec<_> = page.into_iter().take(first as usize).collect();
    let ids: Vec<String> = page.iter().map(|(candidat, _)| candidat.clone()).collect();
    let mut voeux = sqlx::query_as!(
        VoeuLigne,
        "SELECT voeu, candidat, academie, uai_formateur, uai_responsable, formation, cfd, rncp, libelle_formation,
                rang, ine, nom, prenoms, date_de_naissance, email, telephone, email_responsable,
                telephone_responsable, code_postal, dossier_id
         FROM rm_voeux
         WHERE candidat = ANY($1) AND source = $2 AND rentree = $3 AND NOT retire
           AND (cardinality($4::text[]) = 0 OR academie = ANY($4))
         ORDER BY candidat, rang NULLS LAST, voeu",
        &ids,
        campagne.source.as_str(),
        campagne.rentree,
        academies,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .peekable();
    let mut out = Vec::with_capacity(page.len());
    for (candidat, inscrit) in page {
        let mut mine = Vec::new();
        while let Some(v) = voeux.next_if(|v| v.candidat == candidat) {
            mine.push(v);
        }
        out.push(NonConcretise { candidat, inscrit, voeux: mine });
    }
    Ok((out, more))
}
