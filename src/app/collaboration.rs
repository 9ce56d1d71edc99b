//! The collaboration's settings (domain.md §11): a CFA's (activated or not, and whether every rupture
//! is sent automatically once 45 days old), and a Mission Locale's activation (from which day it uses
//! the service). Each decided from what its stream holds (a setting that changes nothing records
//! nothing), appended on that stream at the version read.

use chrono::{DateTime, NaiveDate, Utc};
use events::collaboration::{COLLABORATION_REGLEE, CollaborationReglee};
use events::domain::OrganismeRef;
use events::mission_locale::{MISSION_LOCALE_ACTIVEE, MISSION_LOCALE_ENREGISTREE, MissionLocaleActivee};
use events::{Channel, EventStore, ExpectedVersion, NewEvent};

use super::{CommandError, metadata};
use crate::auth::Role;
use crate::auth::viewer::Viewer;

/// Settings asked by a CFA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReglerCollaboration {
    pub active: bool,
    pub envoi_auto_45_jours: bool,
    /// Where its recaps are sent (none: readable through GraphQL only).
    pub email_recapitulatifs: Option<String>,
}

/// A CFA's settings as its stream holds them, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reglage {
    pub active: bool,
    pub envoi_auto_45_jours: bool,
    pub email_recapitulatifs: Option<String>,
    /// When they were set (none: never; the collaboration is not activated).
    pub depuis: Option<DateTime<Utc>>,
}

/// Decide new settings given the current ones: the event, or nothing when they are unchanged; a
/// recaps address must look like one.
pub fn decide(
    organisme: &OrganismeRef,
    actuel: &Reglage,
    command: ReglerCollaboration,
) -> Result<Option<CollaborationReglee>, CommandError> {
    let email = command.email_recapitulatifs.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
    if let Some(email) = &email {
        crate::notifier::adresse(email).map_err(|why| CommandError::invalid("emailRecapitulatifs", why))?;
    }
    let unchanged = actuel.depuis.is_some()
        && (actuel.active, actuel.envoi_auto_45_jours, &actuel.email_recapitulatifs)
            == (command.active, command.envoi_auto_45_jours, &email);
    Ok((!unchanged).then(|| CollaborationReglee {
        organisme: organisme.clone(),
        active: command.active,
        envoi_auto_45_jours: command.envoi_auto_45_jours,
        email_recapitulatifs: email,
    }))
}

/// The organisme of the caller (an organisme's key), or a refusal.
fn own(viewer: &Viewer) -> Result<OrganismeRef, CommandError> {
    let principal =
        viewer.require(&[Role::OrganismeFormation], "régler la collaboration avec les Missions Locales")?;
    principal
        .organisme
        .clone()
        .ok_or_else(|| CommandError::Forbidden("la clé d'organisme ne nomme pas son organisme".into()))
}

/// The settings of the caller's organisme, read from its stream.
pub async fn reglage(store: &EventStore, viewer: &Viewer) -> Result<Reglage, CommandError> {
    read(store, &own(viewer)?).await.map(|(reglage, _)| reglage)
}

/// An organisme's settings, read from its stream, and the stream's version.
pub async fn read(store: &EventStore, organisme: &OrganismeRef) -> Result<(Reglage, i64), CommandError> {
    let events = store.read_stream(&CollaborationReglee::stream_id(organisme), 1, i64::MAX).await?;
    let version = events.last().map_or(0, |e| e.version);
    let latest = events.iter().rev().find(|e| e.event_type == COLLABORATION_REGLEE);
    let reglage = match latest {
        None => {
            Reglage { active: false, envoi_auto_45_jours: false, email_recapitulatifs: None, depuis: None }
        }
        Some(e) => {
            let r: CollaborationReglee = serde_json::from_value(e.data.clone())
                .map_err(|err| CommandError::Failed(err.to_string()))?;
            Reglage {
                active: r.active,
                envoi_auto_45_jours: r.envoi_auto_45_jours,
                email_recapitulatifs: r.email_recapitulatifs,
                depuis: Some(e.recorded_at),
            }
        }
    };
    Ok((reglage, version))
}

/// Set the caller's organisme's settings; the settings after, and the position of their event if one
/// was recorded.
pub async fn regler(
    store: &EventStore,
    viewer: &Viewer,
    channel: Channel,
    command: ReglerCollaboration,
) -> Result<(Reglage, Option<i64>), CommandError> {
    let organisme = own(viewer)?;
    let (actuel, version) = read(store, &organisme).await?;
    let Some(event) = decide(&organisme, &actuel, command)? else { return Ok((actuel, None)) };
    let principal = viewer.principal()?;
    let new = NewEvent::new(COLLABORATION_REGLEE, serde_json::to_value(&event).expect("settings serialise"))
        .occurred_at(Utc::now().date_naive())
        .with_metadata(metadata(principal.actor(), channel));
    let outcome = store
        .append(CollaborationReglee::stream_id(&organisme), ExpectedVersion::Exact(version), vec![new])
        .await
        .map_err(|e| match e {
            events::AppendError::Conflict { .. } => {
                CommandError::Conflict("les réglages ont changé entre-temps : relisez-les".into())
            }
            other => CommandError::Failed(other.to_string()),
        })?;
    let (reglage, _) = read(store, &organisme).await?;
    Ok((reglage, outcome.positions.first().copied()))
}

/// Decide a Mission Locale's activation on `today`: the event, or nothing when it was activated before.
pub fn decide_activation(
    ml: &str,
    deja: Option<NaiveDate>,
    today: NaiveDate,
) -> Option<MissionLocaleActivee> {
    deja.is_none().then(|| MissionLocaleActivee { id: ml.to_owned(), le: today })
}

/// Activate the caller's Mission Locale (its MISSION_LOCALE key) today; the day it is activated from,
/// and the position of the event if one was recorded.
pub async fn activer_mission_locale(
    store: &EventStore,
    viewer: &Viewer,
    channel: Channel,
) -> Result<(NaiveDate, Option<i64>), CommandError> {
    let principal = viewer.require(&[Role::MissionLocale], "activer une Mission Locale")?;
    let ml = viewer.mission_locale()?;
    let stream = format!("mission_locale-{ml}");
    let events = store.read_stream(&stream, 1, i64::MAX).await?;
    if !events.iter().any(|e| e.event_type == MISSION_LOCALE_ENREGISTREE) {
        return Err(CommandError::NotFound(format!("aucune Mission Locale {ml} dans le référentiel")));
    }
    let version = events.last().map_or(0, |e| e.version);
    let deja = events
        .iter()
        .rev()
        .find(|e| e.event_type == MISSION_LOCALE_ACTIVEE)
        .map(|e| serde_json::from_value::<MissionLocaleActivee>(e.data.clone()))
        .transpose()
        .map_err(|e| CommandError::Failed(e.to_string()))?
        .map(|a| a.le);
    let today = Utc::now().date_naive();
    let Some(event) = decide_activation(ml, deja, today) else { return Ok((deja.unwrap_or(today), None)) };
    let new =
        NewEvent::new(MISSION_LOCALE_ACTIVEE, serde_json::to_value(&event).expect("activation serialises"))
            .occurred_at(today)
            .with_metadata(metadata(principal.actor(), channel));
    let outcome =
        store.append(stream, ExpectedVersion::Exact(version), vec![new]).await.map_err(|e| match e {
            events::AppendError::Conflict { .. } => {
                CommandError::Conflict("la Mission Locale a changé entre-temps : recommencez".into())
            }
            other => CommandError::Failed(other.to_string()),
        })?;
    Ok((event.le, outcome.positions.first().copied()))
}

#[cfg(test)]
mod tests {
    //! Given the settings a CFA's stream holds, when it asks for these, then this event or nothing.

    use super::*;

    fn lyon() -> OrganismeRef {
        "0693456K:12345678901234".parse().expect("an organisme")
    }

    const JAMAIS: Reglage =
        Reglage { active: false, envoi_auto_45_jours: false, email_recapitulatifs: None, depuis: None };

    fn asked(active: bool, envoi_auto_45_jours: bool, email: Option<&str>) -> ReglerCollaboration {
        ReglerCollaboration { active, envoi_auto_45_jours, email_recapitulatifs: email.map(Into::into) }
    }

    #[test]
    fn a_first_setting_is_recorded_even_when_it_keeps_the_default() {
        let event = decide(&lyon(), &JAMAIS, asked(false, false, None)).expect("valid").expect("recorded");
        assert_eq!((event.organisme, event.active, event.envoi_auto_45_jours), (lyon(), false, false));
    }

    #[test]
    fn a_mission_locale_is_activated_once_from_the_day_it_asks() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).expect("a day");
        let event = decide_activation("ML-69", None, today).expect("activated");
        assert_eq!((event.id.as_str(), event.le), ("ML-69", today));
        let before = NaiveDate::from_ymd_opt(2026, 9, 1).expect("a day");
        assert_eq!(decide_activation("ML-69", Some(before), today), None);
    }

    #[test]
    fn the_same_settings_again_record_nothing_and_a_change_records_them_whole() {
        let actuel = Reglage {
            active: true,
            envoi_auto_45_jours: false,
            email_recapitulatifs: Some("cfa@example.fr".into()),
            depuis: Some(Utc::now()),
        };
        let same = decide(&lyon(), &actuel, asked(true, false, Some(" cfa@example.fr "))).expect("valid");
        assert_eq!(same, None);
        let event = decide(&lyon(), &actuel, asked(true, true, Some("cfa@example.fr")))
            .expect("valid")
            .expect("recorded");
        assert!(event.active && event.envoi_auto_45_jours);
        let without = decide(&lyon(), &actuel, asked(true, false, None)).expect("valid").expect("recorded");
        assert_eq!(without.email_recapitulatifs, None, "the settings are whole: no address is none");
    }

    #[test]
    fn a_recaps_address_must_be_one() {
        for wrong in ["cfa", "cfa@", "@example.fr", "a b@example.fr"] {
            match decide(&lyon(), &JAMAIS, asked(true, false, Some(wrong))) {
                Err(CommandError::Invalid { field, .. }) => assert_eq!(field, "emailRecapitulatifs"),
                other => panic!("{wrong:?}: {other:?}"),
            }
        }
    }
}
