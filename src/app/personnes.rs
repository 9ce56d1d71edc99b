//! Erasing a person (domain.md §9), decided by `check` and `decide`: on request (`tba personnes effacer`, the `effacerPersonne`
//! mutation) or when the retention period is over (`tba retention run`, daily in `tba serve`).
//!
//! One transaction destroys the person's data keys (and those of the vœux candidates that were the same
//! person), deletes the refused items of the transmission journal that were about them, and appends
//! `PersonneEffacee` (who in its metadata, why and on which legal basis in its data). The log is not
//! rewritten: its sealed values simply no longer open, and the projections, on reading the erasure,
//! fold the person's dossiers and vœux again as they now read. Aggregates keep the person: only their
//! birth date loses its day (the month stays in clear for the age bands).

use chrono::NaiveDate;
use events::personal::{Erasure, Vault};
use events::personne::{self, BaseLegale, PERSONNE_EFFACEE, PersonneEffacee};
use events::store::append_in_transaction;
use events::{AppendRequest, ExpectedVersion, Metadata, NewEvent};
use sqlx::PgPool;

/// How long personal data is kept after the end of a person's last formation, by default.
pub const RETENTION_ANS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum EffacementError {
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("personne {0} : aucune donnée de cette personne n'est connue")]
    Inconnue(String),
    #[error("{0}")]
    Store(#[from] events::StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the log refused the erasure: {0}")]
    Append(#[from] events::AppendError),
}

impl From<EffacementError> for super::CommandError {
    fn from(error: EffacementError) -> Self {
        use super::CommandError;
        match error {
            EffacementError::Invalid { field, message } => CommandError::invalid(field, message),
            e @ EffacementError::Inconnue(_) => CommandError::NotFound(e.to_string()),
            EffacementError::Database(error) => CommandError::Database(error),
            EffacementError::Store(error) => CommandError::from(error),
            e @ EffacementError::Append(_) => CommandError::Failed(e.to_string()),
        }
    }
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effacement {
    pub personne: String,
    /// The position of `PersonneEffacee`; none when the person was already erased.
    pub position: Option<i64>,
    /// The vœux candidates erased with the person.
    pub candidats: Vec<String>,
    /// Refused items of the transmission journal deleted.
    pub rejets: u64,
}

/// A person key as the log writes it: `p-` (names and birth date) or `i-` (a candidate's INE), then
/// 32 hex digits.
fn valid_key(personne: &str) -> bool {
    let Some(rest) = personne.strip_prefix("p-").or_else(|| personne.strip_prefix("i-")) else {
        return false;
    };
    rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The keys the person's dossiers had before an identity correction moved them to the person: the
/// other keys their personal data was sealed under (the dossiers' events, and the follow-up of the
/// rupture queue under the former key), read from the log.
async fn anciennes_cles(pool: &PgPool, personne: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT e.event_type, e.data::jsonb FROM events e
         WHERE e.stream_id IN (SELECT dossier_id FROM rm_dossiers WHERE personne = $1)
           AND e.event_type = ANY($2)",
    )
    .bind(personne)
    .bind(events::personal::seal::PERSONAL.iter().map(|p| p.event_type).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    let mut cles: Vec<String> = rows
        .iter()
        .flat_map(|(event_type, data)| events::personal::seal::persons_in(event_type, data))
        .filter(|k| k != personne)
        .collect();
    cles.sort();
    cles.dedup();
    Ok(cles)
}

/// An erasure asked: whose, why, and on which legal basis.
#[derive(Debug, Clone)]
pub struct Effacer {
    pub personne: String,
    pub motif: String,
    pub base_legale: BaseLegale,
}

/// The command as given, checked: a person key, a motif of 1 to 2,000 characters (both trimmed).
pub fn check(command: Effacer) -> Result<Effacer, EffacementError> {
    let personne = command.personne.trim();
    if !valid_key(personne) {
        return Err(EffacementError::Invalid {
            field: "personne",
            message: format!(
                "{personne:?} n'est pas une clé de personne (p-… ou i-…, 32 chiffres hexadécimaux)"
            ),
        });
    }
    let motif = command.motif.trim();
    if motif.is_empty() || motif.chars().count() > 2000 {
        return Err(EffacementError::Invalid { field: "motif", message: "de 1 à 2000 caractères".into() });
    }
    Ok(Effacer { personne: personne.to_owned(), motif: motif.to_owned(), ..command })
}

/// What erasing a person found: what the vault did with their key, whether any read model knows them,
/// and the other keys erased with theirs (vœux candidates, keys before an identity correction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constat {
    pub erasure: Erasure,
    pub connue: bool,
    pub candidats: Vec<String>,
    pub anciennes: Vec<String>,
}

/// Decide an erasure (checked) given what it found: nothing to record for a person already erased,
/// a refusal for a person nothing is known of, else `PersonneEffacee`.
pub fn decide(command: &Effacer, constat: Constat) -> Result<Option<PersonneEffacee>, EffacementError> {
    match constat.erasure {
        Erasure::AlreadyErased => Ok(None),
        Erasure::NoKey if !constat.connue => Err(EffacementError::Inconnue(command.personne.clone())),
        Erasure::NoKey | Erasure::Destroyed => Ok(Some(PersonneEffacee {
            personne: command.personne.clone(),
            motif: command.motif.clone(),
            base_legale: command.base_legale,
            candidats: constat.candidats,
            anciennes: constat.anciennes,
        })),
    }
}

/// Erase one person. Erasing an erased person again changes nothing.
pub async fn effacer(
    pool: &PgPool,
    vault: &Vault,
    command: Effacer,
    metadata: Metadata,
) -> Result<Effacement, EffacementError> {
    let command = check(command)?;
    let personne = command.personne.as_str();
    // The candidates of the person: by person key, or matched to one of the person's dossiers.
    let candidats: Vec<String> = sqlx::query_scalar!(
        r#"SELECT DISTINCT candidat AS "candidat!" FROM rm_voeux
           WHERE personne = $1 OR candidat = $1
              OR dossier_id IN (SELECT dossier_id FROM rm_dossiers WHERE personne = $1)
           ORDER BY 1"#,
        personne
    )
    .fetch_all(pool)
    .await?;
    let anciennes = anciennes_cles(pool, personne).await?;
    let mut tx = pool.begin().await?;
    let erasure = vault.erase(&mut tx, personne).await?;
    for other in candidats.iter().chain(&anciennes) {
        vault.erase(&mut tx, other).await?;
    }
    let connue: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM rm_dossiers WHERE personne = $1)
               OR EXISTS (SELECT 1 FROM rm_voeux WHERE personne = $1 OR candidat = $1) AS "known!""#,
        personne
    )
    .fetch_one(&mut *tx)
    .await?;
    let constat = Constat { erasure, connue, candidats: candidats.clone(), anciennes: anciennes.clone() };
    let event = match decide(&command, constat) {
        Ok(Some(event)) => event,
        Ok(None) => {
            tx.rollback().await?;
            return Ok(Effacement { personne: personne.to_owned(), position: None, candidats, rejets: 0 });
        }
        Err(refused) => {
            tx.rollback().await?;
            return Err(refused);
        }
    };
    let cles: Vec<String> = std::iter::once(personne.to_owned()).chain(anciennes).collect();
    let rejets = sqlx::query("DELETE FROM transmission_rejets WHERE personne = ANY($1)")
        .bind(&cles)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let new = NewEvent::new(PERSONNE_EFFACEE, serde_json::to_value(&event).expect("serialises"))
        .with_metadata(metadata);
    let request = AppendRequest::new(personne::stream_id(personne), ExpectedVersion::Any, vec![new]);
    let outcome =
        append_in_transaction(&mut tx, None, vec![request]).await?.pop().expect("one result per request")?;
    tx.commit().await?;
    tracing::info!(personne, position = outcome.positions[0], "person erased");
    Ok(Effacement {
        personne: personne.to_owned(),
        position: outcome.positions.first().copied(),
        candidats,
        rejets,
    })
}

/// The persons whose personal data is past the retention on `today`: the end of their last formation
/// (the last change of status of their last dossier, at the latest the end of its année scolaire's
/// second year) is more than `ans` years ago; for candidates who never had a dossier, their latest
/// rentrée. The erased are not listed again.
pub async fn expirees(pool: &PgPool, today: NaiveDate, ans: u32) -> Result<Vec<String>, sqlx::Error> {
    let limite = today.checked_sub_months(chrono::Months::new(12 * ans)).unwrap_or(NaiveDate::MIN);
    sqlx::query_scalar!(
        r#"WITH fins AS (
               SELECT personne,
                      greatest(coalesce((parcours->-1->>'date')::date, '-infinity'),
                               make_date(split_part(annee_scolaire, '-', 2)::int, 12, 31)) AS fin
               FROM rm_dossiers
               UNION ALL
               SELECT coalesce(personne, candidat), make_date(rentree, 12, 31) FROM rm_voeux WHERE dossier_id IS NULL
           )
           SELECT f.personne AS "personne!" FROM fins f
           WHERE NOT EXISTS (SELECT 1 FROM personnes_cles k WHERE k.personne = f.personne AND k.efface_le IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM rm_voeux_effaces e WHERE e.candidat = f.personne)
           GROUP BY f.personne HAVING max(f.fin) < $1
           ORDER BY 1"#,
        limite
    )
    .fetch_all(pool)
    .await
}

/// What a retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    pub limite_ans: u32,
    pub effacees: Vec<String>,
}

/// Erase every person past the retention, and record the run in the access log.
pub async fn retention(
    pool: &PgPool,
    vault: &Vault,
    today: NaiveDate,
    ans: u32,
    metadata: Metadata,
) -> Result<Retention, EffacementError> {
    let mut effacees = Vec::new();
    for personne in expirees(pool, today, ans).await? {
        let motif = format!("fin de la durée de conservation ({ans} ans après la fin de la formation)");
        let command =
            Effacer { personne: personne.clone(), motif, base_legale: BaseLegale::DureeDeConservation };
        match effacer(pool, vault, command, metadata.clone()).await {
            Ok(e) if e.position.is_some() => effacees.push(personne),
            Ok(_) | Err(EffacementError::Inconnue(_)) => {}
            Err(error) => return Err(error),
        }
    }
    crate::auth::access_log::record_system(
        pool,
        &metadata.actor.principal,
        "retention",
        &format!("{} personne(s)", effacees.len()),
        serde_json::json!({ "ans": ans, "jour": today, "personnes": effacees }),
    )
    .await?;
    Ok(Retention { limite_ans: ans, effacees })
}

/// Run the retention every day while the service runs.
pub async fn retention_every_day(pool: PgPool, vault: Vault, ans: u32) {
    let mut every_day = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
    loop {
        every_day.tick().await;
        if pool.is_closed() {
            return;
        }
        let metadata = Metadata {
            actor: events::Actor { organisation: "tba".into(), principal: "retention".into() },
            channel: events::Channel::Retention.into(),
            ..Metadata::default()
        };
        match retention(&pool, &vault, chrono::Utc::now().date_naive(), ans, metadata).await {
            Ok(r) if r.effacees.is_empty() => {}
            Ok(r) => tracing::info!(erased = r.effacees.len(), years = ans, "retention: persons erased"),
            Err(error) => tracing::warn!(%error, "retention run failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERSONNE: &str = "p-0123456789abcdef0123456789abcdef";

    fn asked(personne: &str, motif: &str) -> Effacer {
        Effacer { personne: personne.into(), motif: motif.into(), base_legale: BaseLegale::DroitALEffacement }
    }

    fn found(erasure: Erasure, connue: bool) -> Constat {
        Constat { erasure, connue, candidats: vec!["c-1".into()], anciennes: vec![] }
    }

    #[test]
    fn an_erasure_names_a_person_key_and_a_motif() {
        let checked = check(asked(&format!(" {PERSONNE} "), "  demande du 3 mars ")).expect("checked");
        assert_eq!((checked.personne.as_str(), checked.motif.as_str()), (PERSONNE, "demande du 3 mars"));
        for (personne, motif, field) in [
            ("dossier-1", "demande", "personne"),
            (PERSONNE, "  ", "motif"),
            (PERSONNE, &"x".repeat(2001), "motif"),
        ] {
            match check(asked(personne, motif)) {
                Err(EffacementError::Invalid { field: refused, .. }) => {
                    assert_eq!(refused, field, "{personne}")
                }
                other => panic!("{personne:?} {motif:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_known_person_is_erased_with_their_candidates_and_an_erased_one_again_records_nothing() {
        let command = check(asked(PERSONNE, "demande")).expect("checked");
        let event = decide(&command, found(Erasure::Destroyed, true)).expect("decided").expect("an event");
        assert_eq!(
            (event.personne.as_str(), event.candidats.as_slice()),
            (PERSONNE, &["c-1".to_owned()][..])
        );
        assert_eq!(event.base_legale, BaseLegale::DroitALEffacement);
        // Known to a read model but never sealed (no key): erased all the same, so none ever is.
        assert!(decide(&command, found(Erasure::NoKey, true)).expect("decided").is_some());
        assert_eq!(decide(&command, found(Erasure::AlreadyErased, true)).expect("decided"), None);
    }

    #[test]
    fn a_person_nothing_is_known_of_is_refused() {
        let command = check(asked(PERSONNE, "demande")).expect("checked");
        assert!(
            matches!(decide(&command, found(Erasure::NoKey, false)), Err(EffacementError::Inconnue(p)) if p == PERSONNE)
        );
    }

    #[test]
    fn person_keys_are_recognised() {
        assert!(valid_key("p-0123456789abcdef0123456789abcdef"));
        assert!(valid_key("i-0123456789abcdef0123456789abcdef"));
        assert!(!valid_key("p-0123456789ABCDEF0123456789abcdef"));
        assert!(!valid_key("p-0123"));
        assert!(!valid_key("dossier-0123456789abcdef0123456789abcdef"));
    }
}
