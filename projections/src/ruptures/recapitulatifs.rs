//! What the collaboration's recaps say (domain.md §11), read from the queue's read model for a period
//! of knowledge time `[du, au)`: the requests a Mission Locale has left unanswered for 24 h, what
//! happened in a Mission Locale's week, and what the Missions Locales did on a CFA's entries. Figures
//! and organisations only: nothing about a young person but how many.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A count per organisme (formateur): `(uai, siret, name)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParOrganisme {
    pub uai: String,
    pub siret: String,
    pub nom: String,
    pub nombre: i64,
}

/// The CFAs' requests each Mission Locale had not answered (no situation other than "contacté sans
/// retour" since the request) at `au`, 24 h or more after they were made: per Mission Locale, per CFA.
pub async fn demandes_en_attente(
    conn: &mut PgConnection,
    au: DateTime<Utc>,
) -> Result<BTreeMap<String, Vec<ParOrganisme>>, sqlx::Error> {
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "WITH d AS (
             SELECT DISTINCT ON (r.entree) r.entree, r.ml_id, r.uai_formateur, r.siret_formateur
             FROM rm_ruptures r
             CROSS JOIN LATERAL (
                 SELECT min(a.recorded_at) AS le FROM rm_rupture_actions a
                 WHERE a.entree = ANY(r.entree || r.anciennes) AND a.event_type = 'SuiviConjointDemande'
                   AND a.date_rupture >= r.contrat_debut AND a.recorded_at < $1) dem
             WHERE r.active AND r.suivi_conjoint AND r.ml_id IS NOT NULL AND dem.le <= $1 - interval '24 hours'
               AND NOT EXISTS (
                   SELECT 1 FROM rm_rupture_actions s
                   WHERE s.entree = ANY(r.entree || r.anciennes) AND s.event_type = 'SituationRenseignee'
                     AND s.situation <> 'CONTACTE_SANS_RETOUR' AND s.recorded_at >= dem.le AND s.recorded_at < $1)
             ORDER BY r.entree, r.date_rupture DESC)
         SELECT d.ml_id, d.uai_formateur, d.siret_formateur, coalesce(min(o.nom), d.uai_formateur), count(*)
         FROM d LEFT JOIN organismes o ON (o.uai, o.siret) = (d.uai_formateur, d.siret_formateur)
         GROUP BY d.ml_id, d.uai_formateur, d.siret_formateur ORDER BY 1, 2, 3",
    )
    .bind(au)
    .fetch_all(conn)
    .await?;
    let mut par_ml: BTreeMap<String, Vec<ParOrganisme>> = BTreeMap::new();
    for (ml, uai, siret, nom, nombre) in rows {
        par_ml.entry(ml).or_default().push(ParOrganisme { uai, siret, nom, nombre });
    }
    Ok(par_ml)
}

/// What happened in a Mission Locale's queue in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Periode {
    /// The CFAs' requests for a joint follow-up of entries in its queue.
    pub demandes_recues: i64,
    /// The CFAs' messages on the threads of its entries.
    pub messages_recus: i64,
    /// The situations its advisors recorded.
    pub situations: i64,
}

/// Per Mission Locale, what happened in `[du, au)` (those with nothing are absent).
pub async fn periodes_missions_locales(
    conn: &mut PgConnection,
    du: DateTime<Utc>,
    au: DateTime<Utc>,
) -> Result<BTreeMap<String, Periode>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "WITH faits AS (
             SELECT a.entree, a.event_type AS genre, a.organisation FROM rm_rupture_actions a
             WHERE a.recorded_at >= $1 AND a.recorded_at < $2
               AND a.event_type IN ('SuiviConjointDemande', 'SituationRenseignee')
             UNION ALL
             SELECT m.entree, 'Message', m.organisation FROM rm_rupture_messages m
             WHERE m.recorded_at >= $1 AND m.recorded_at < $2 AND m.cote = 'ORGANISME')
         SELECT e.ml_id,
                count(*) FILTER (WHERE f.genre = 'SuiviConjointDemande'),
                count(*) FILTER (WHERE f.genre = 'Message'),
                count(*) FILTER (WHERE f.genre = 'SituationRenseignee' AND f.organisation = 'MISSION_LOCALE:' || e.ml_id)
         FROM faits f
         CROSS JOIN LATERAL (
             SELECT r.ml_id FROM rm_ruptures r WHERE r.entree = f.entree
             ORDER BY r.active DESC, r.date_rupture DESC LIMIT 1) e
         WHERE e.ml_id IS NOT NULL
         GROUP BY e.ml_id",
    )
    .bind(du)
    .bind(au)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(ml, demandes_recues, messages_recus, situations)| {
            (ml, Periode { demandes_recues, messages_recus, situations })
        })
        .collect())
}

/// What the Missions Locales did on a CFA's entries in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ActionsMissionsLocales {
    pub uai: String,
    pub siret: String,
    /// `[situation, count]`, by situation.
    pub situations: Vec<(String, i64)>,
    /// The Missions Locales' messages on the threads of its entries.
    pub messages: i64,
}

impl ActionsMissionsLocales {
    pub fn total_situations(&self) -> i64 {
        self.situations.iter().map(|(_, n)| n).sum()
    }
}

/// Per organisme formateur, what the Missions Locales did on its entries in `[du, au)`: the situations
/// they recorded and the messages they wrote (organismes with nothing are absent).
pub async fn actions_missions_locales(
    conn: &mut PgConnection,
    du: DateTime<Utc>,
    au: DateTime<Utc>,
) -> Result<Vec<ActionsMissionsLocales>, sqlx::Error> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "WITH faits AS (
             SELECT a.entree, a.situation AS genre FROM rm_rupture_actions a
             WHERE a.recorded_at >= $1 AND a.recorded_at < $2 AND a.event_type = 'SituationRenseignee'
               AND a.organisation LIKE 'MISSION\\_LOCALE:%'
             UNION ALL
             SELECT m.entree, '' FROM rm_rupture_messages m
             WHERE m.recorded_at >= $1 AND m.recorded_at < $2 AND m.cote = 'MISSION_LOCALE')
         SELECT e.uai_formateur, e.siret_formateur, f.genre, count(*)
         FROM faits f
         CROSS JOIN LATERAL (
             SELECT r.uai_formateur, r.siret_formateur FROM rm_ruptures r WHERE r.entree = f.entree
             ORDER BY r.active DESC, r.date_rupture DESC LIMIT 1) e
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )
    .bind(du)
    .bind(au)
    .fetch_all(conn)
    .await?;
    let mut par_cfa: BTreeMap<(String, String), ActionsMissionsLocales> = BTreeMap::new();
    for (uai, siret, genre, nombre) in rows {
        let cfa = par_cfa.entry((uai.clone(), siret.clone())).or_insert_with(|| ActionsMissionsLocales {
            uai,
            siret,
            ..ActionsMissionsLocales::default()
        });
        if genre.is_empty() {
            cfa.messages += nombre;
        } else {
            cfa.situations.push((genre, nombre));
        }
    }
    Ok(par_cfa.into_values().collect())
}
