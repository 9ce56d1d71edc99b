//! `tba missions-locales import FILE.csv`: the Missions Locales and their territories (header
//! `ml_id,nom,siret,email,telephone,communes`, `communes` a space-separated list of current communes'
//! INSEE codes). Every row is checked before anything is written: a commune must be a current commune
//! of France and belong to one Mission Locale only. Then, in one transaction, each new or changed Mission
//! Locale gets a `MissionLocaleEnregistree` event and its lookup rows. Re-importing the same file writes
//! nothing.
//!
//! `place` says which Mission Locale a young person belongs to: by the residence's INSEE code (an
//! arrondissement or a former code counts as its current commune), else by its postal code.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;

use chrono::Utc;
use events::domain::communes;
use events::domain::{Email, Siret, Telephone};
use events::limits::Texte;
use events::mission_locale::{MISSION_LOCALE_ENREGISTREE, MissionLocale};
use events::store::append_in_transaction;
use events::{AppendRequest, ExpectedVersion, Metadata, NewEvent};
use sqlx::PgPool;

use super::organismes::ImportReport;
use super::referential::{RowError, optional};

const COLUMNS: [&str; 6] = ["ml_id", "nom", "siret", "email", "telephone", "communes"];

/// Read and check the whole file; any refused value refuses the file.
pub fn parse_csv(input: impl Read) -> Result<Vec<MissionLocale>, Vec<RowError>> {
    let (sheet, mut errors) = super::referential::read(input, &COLUMNS)?;
    let mut missions = Vec::new();
    let mut ids: HashMap<String, u64> = HashMap::new();
    let mut claimed: HashMap<String, (String, u64)> = HashMap::new();
    for row in sheet.rows() {
        let line = row.line;
        let get = |column: &str| row.get(column).to_owned();
        let before = errors.len();
        let id = get("ml_id");
        if id.is_empty() {
            errors.push(RowError::new(line, "ml_id", "must not be empty"));
        } else if let Err(invalid) = Texte::Identifiant.check(&id) {
            errors.push(RowError::new(line, "ml_id", invalid.to_string()));
        } else if let Some(first) = ids.insert(id.clone(), line) {
            errors.push(RowError::new(line, "ml_id", format!("{id} already on line {first}")));
        }
        let nom = get("nom");
        if nom.is_empty() {
            errors.push(RowError::new(line, "nom", "must not be empty"));
        } else if let Err(invalid) = Texte::Libelle.check(&nom) {
            errors.push(RowError::new(line, "nom", invalid.to_string()));
        }
        let siret = Siret::parse(&get("siret"))
            .map_err(|e| errors.push(RowError::new(line, "siret", e.to_string())))
            .ok();
        let email = optional(&get("email"), Email::parse)
            .map_err(|e| errors.push(RowError::new(line, "email", e)))
            .ok();
        let telephone = Telephone::parse_optional(&get("telephone"))
            .map_err(|e| errors.push(RowError::new(line, "telephone", e.to_string())))
            .ok();
        let mut territory = BTreeSet::new();
        for code in get("communes").split_whitespace() {
            match communes::commune(code) {
                Some(c) if c.is_current() => {
                    if let Some((other, first)) = claimed.insert(c.code.clone(), (id.clone(), line)) {
                        errors.push(RowError::new(
                            line,
                            "communes",
                            format!("{code} already in the territory of {other} (line {first})"),
                        ));
                    }
                    territory.insert(c.code.clone());
                }
                Some(c) => errors.push(RowError::new(
                    line,
                    "communes",
                    format!("{code} is not a current commune: list {} ({})", c.commune, c.nom),
                )),
                None => errors.push(RowError::new(
                    line,
                    "communes",
                    format!("{code} is not a commune INSEE code"),
                )),
            }
        }
        if territory.is_empty() && errors.len() == before {
            errors.push(RowError::new(line, "communes", "at least one commune INSEE code"));
        }
        if let (true, Some(siret), Some(email), Some(telephone)) =
            (errors.len() == before, siret, email, telephone)
        {
            missions.push(MissionLocale { id, nom, siret, email, telephone, communes: territory });
        }
    }
    if errors.is_empty() { Ok(missions) } else { Err(errors) }
}

#[derive(Debug, thiserror::Error)]
pub enum MissionsLocalesImportError {
    #[error("{} refused value(s)", .0.len())]
    Invalid(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] events::StoreError),
    #[error("the log refused a Mission Locale: {0}")]
    Append(#[from] events::AppendError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Record the new and changed Missions Locales, all in one transaction. A commune still in the territory
/// of a Mission Locale the file does not change refuses the import (name that one too, or free the
/// commune first).
pub async fn import(
    pool: &PgPool,
    missions: Vec<MissionLocale>,
    metadata: Metadata,
) -> Result<ImportReport, MissionsLocalesImportError> {
    let mut tx = pool.begin().await?;
    let stored: Vec<String> =
        sqlx::query_scalar!(r#"SELECT data::text AS "data!" FROM events e
            WHERE category = 'mission_locale' AND version = (SELECT max(version) FROM events l WHERE l.stream_id = e.stream_id)"#)
            .fetch_all(&mut *tx)
            .await?;
    let known: HashMap<String, MissionLocale> = stored
        .iter()
        .filter_map(|data| serde_json::from_str::<MissionLocale>(data).ok())
        .map(|m| (m.id.clone(), m))
        .collect();
    let mut report = ImportReport { read: missions.len(), ..ImportReport::default() };
    let mut changed = Vec::new();
    for mission in missions {
        match known.get(&mission.id) {
            Some(same) if *same == mission => report.unchanged += 1,
            Some(_) => {
                report.changed += 1;
                changed.push(mission);
            }
            None => {
                report.created += 1;
                changed.push(mission);
            }
        }
    }
    let ids: Vec<String> = changed.iter().map(|m| m.id.clone()).collect();
    let territory: Vec<String> = changed.iter().flat_map(|m| m.communes.iter().cloned()).collect();
    let taken = sqlx::query!(
        "SELECT commune, ml_id FROM ml_communes WHERE commune = ANY($1) AND NOT ml_id = ANY($2)",
        &territory,
        &ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    if !taken.is_empty() {
        let errors = taken
            .into_iter()
            .map(|t| RowError {
                line: 0,
                field: "communes".into(),
                message: format!("{} belongs to {}, which this file does not name", t.commune, t.ml_id),
            })
            .collect();
        return Err(MissionsLocalesImportError::Invalid(errors));
    }
    if changed.is_empty() {
        return Ok(report);
    }
    let today = Utc::now().date_naive();
    let requests = changed
        .iter()
        .map(|m| {
            let data = serde_json::to_value(m).expect("missions locales serialise to JSON");
            let event = NewEvent::new(MISSION_LOCALE_ENREGISTREE, data)
                .occurred_at(today)
                .with_metadata(metadata.clone());
            AppendRequest::new(m.stream_id(), ExpectedVersion::Any, vec![event])
        })
        .collect();
    for (mission, result) in changed.iter().zip(append_in_transaction(&mut tx, None, requests).await?) {
        let position = result?.positions[0];
        sqlx::query!(
            "INSERT INTO missions_locales (id, nom, siret, email, telephone, updated_position)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET nom = excluded.nom, siret = excluded.siret, email = excluded.email,
                 telephone = excluded.telephone, updated_position = excluded.updated_position",
            mission.id,
            mission.nom,
            mission.siret.as_str(),
            mission.email.as_ref().map(ToString::to_string),
            mission.telephone.as_ref().map(ToString::to_string),
            position,
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!("DELETE FROM ml_communes WHERE ml_id = ANY($1)", &ids).execute(&mut *tx).await?;
    let owners: Vec<String> = changed.iter().flat_map(|m| m.communes.iter().map(|_| m.id.clone())).collect();
    sqlx::query!(
        "INSERT INTO ml_communes (commune, ml_id) SELECT * FROM unnest($1::text[], $2::text[])",
        &territory,
        &owners,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// The Mission Locale of a young person living at that residence, by the lookup tables: the first of
/// `communes::candidats` (INSEE code, else postal code) that a Mission Locale serves.
pub async fn place(
    pool: &PgPool,
    code_commune_insee: Option<&str>,
    code_postal: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    let candidates = communes::candidats(code_commune_insee, code_postal);
    let owners: HashMap<String, String> =
        sqlx::query!("SELECT commune, ml_id FROM ml_communes WHERE commune = ANY($1)", &candidates)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| (r.commune, r.ml_id))
            .collect();
    Ok(candidates.iter().find_map(|c| owners.get(c).cloned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "ml_id,nom,siret,email,telephone,communes";

    #[test]
    fn a_territory_lists_current_communes_each_in_one_mission_locale_only() {
        let good = format!(
            "{HEADER}\nML-LYON,Mission Locale de Lyon,12345678901234,contact@ml.fr,04 72 00 00 00,69123 69266\n"
        );
        let missions = parse_csv(good.as_bytes()).expect("valid");
        assert_eq!(missions[0].communes.iter().collect::<Vec<_>>(), ["69123", "69266"]);
        let bad = format!(
            "{HEADER}\nML-A,A,123,,,69123 69383 99999\nML-B,B,12345678901234,pas-un-mail,,69123\nML-C,C,12345678901234,,,\n"
        );
        let errors = parse_csv(bad.as_bytes()).expect_err("refused");
        let fields: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(
            fields,
            [(2, "siret"), (2, "communes"), (2, "communes"), (3, "email"), (3, "communes"), (4, "communes")]
        );
        assert!(
            errors[1].message.contains("list 69123"),
            "an arrondissement names its commune: {}",
            errors[1]
        );
        assert!(errors[4].message.contains("ML-A (line 2)"), "{}", errors[4]);
    }
}
