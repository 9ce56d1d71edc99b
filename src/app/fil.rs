//! The thread between a CFA and a Mission Locale about a young person in rupture (domain.md §11), as
//! commands: a side sends a message on an entry it reads, or marks the thread read. Each is decided
//! by a pure function of the entry (and, for a read, of how far the side had read and the other side's
//! latest message); then appended on the person's follow-up stream.

use chrono::Utc;
use events::fil::{Cote, FilEvent, MessageEnvoye, MessagesLus};
use events::limits::Texte;
use events::{Channel, EventStore};
use projections::ruptures::fil;
use projections::ruptures::query::{self, Ligne, Qui};
use sqlx::PgPool;

use super::CommandError;
use super::ruptures::{Recorded, acteur, record_on, texte};
use crate::auth::keys::{Principal, Role};
use crate::auth::viewer::Viewer;

/// A message for the other side.
#[derive(Debug, Clone)]
pub struct EnvoyerMessage {
    /// The entry (the person key).
    pub entree: String,
    pub texte: String,
}

/// The side a principal writes for: a Mission Locale's key, or an organisme's; nobody else.
pub fn cote(principal: &Principal) -> Result<Cote, CommandError> {
    match principal.role {
        Role::MissionLocale => Ok(Cote::MissionLocale),
        Role::OrganismeFormation => Ok(Cote::Organisme),
        other => Err(CommandError::Forbidden(format!(
            "une clé {} n'écrit pas dans le fil d'une entrée : seuls l'organisme et la Mission Locale y échangent",
            other.as_str()
        ))),
    }
}

/// The entry, if the caller reads it; else a refusal naming `entree`.
fn lue<'a>(qui: &Qui, ligne: Option<&'a Ligne>, entree: &str) -> Result<&'a Ligne, CommandError> {
    ligne
        .filter(|l| Viewer::may_read_entree(qui, l))
        .ok_or_else(|| CommandError::invalid("entree", format!("{entree} : aucune entrée que vous suiviez")))
}

/// Decide a message: a text of at most 5,000 characters, on an entry the side reads.
pub fn decide_message(
    qui: &Qui,
    cote: Cote,
    ligne: Option<&Ligne>,
    command: EnvoyerMessage,
) -> Result<(String, FilEvent), CommandError> {
    let Some(texte) = texte("texte", Some(command.texte), Texte::Commentaire)? else {
        return Err(CommandError::invalid("texte", "le message est vide"));
    };
    let ligne = lue(qui, ligne, &command.entree)?;
    Ok((ligne.entree.clone(), FilEvent::Message(MessageEnvoye { cote, texte: Some(texte) })))
}

/// Decide a read: up to the other side's latest message (`dernier`), when the side had read less
/// (`lu`); nothing otherwise.
pub fn decide_lu(
    qui: &Qui,
    cote: Cote,
    ligne: Option<&Ligne>,
    entree: &str,
    dernier: Option<i64>,
    lu: i64,
) -> Result<Option<(String, FilEvent)>, CommandError> {
    let ligne = lue(qui, ligne, entree)?;
    Ok(dernier
        .filter(|d| *d > lu)
        .map(|jusqu_a| (ligne.entree.clone(), FilEvent::Lus(MessagesLus { cote, jusqu_a }))))
}

/// Send a message on an entry (the organisme's key or the Mission Locale's).
pub async fn envoyer_message(
    pool: &PgPool,
    store: &EventStore,
    viewer: &Viewer,
    channel: Channel,
    command: EnvoyerMessage,
) -> Result<Recorded, CommandError> {
    let principal = viewer.principal()?;
    let cote = cote(principal)?;
    let qui = viewer.ruptures(None)?;
    let ligne = query::une(&mut *pool.acquire().await?, &command.entree, Utc::now().date_naive()).await?;
    let (entree, event) = decide_message(&qui, cote, ligne.as_ref(), command)?;
    record_on(store, acteur(viewer)?, channel, &entree, event.event_type(), event.data()).await
}

/// Mark the thread of an entry read by the caller's side; what was recorded, if anything was unread.
pub async fn marquer_lu(
    pool: &PgPool,
    store: &EventStore,
    viewer: &Viewer,
    channel: Channel,
    entree: &str,
) -> Result<Option<Recorded>, CommandError> {
    let principal = viewer.principal()?;
    let cote = cote(principal)?;
    let qui = viewer.ruptures(None)?;
    let mut conn = pool.acquire().await?;
    let ligne = query::une(&mut conn, entree, Utc::now().date_naive()).await?;
    let messages = fil::messages(&mut conn, &[entree.to_owned()]).await?;
    let dernier = messages.iter().filter(|m| m.cote != cote.as_str()).map(|m| m.position).max();
    let lu = fil::lus(&mut conn, &[entree.to_owned()], cote).await?.remove(entree).unwrap_or(0);
    drop(conn);
    match decide_lu(&qui, cote, ligne.as_ref(), entree, dernier, lu)? {
        Some((entree, event)) => {
            let recorded =
                record_on(store, acteur(viewer)?, channel, &entree, event.event_type(), event.data()).await?;
            Ok(Some(recorded))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    //! Given the entry as the side sees it, when it writes or reads the thread, then this event, nothing,
    //! or a refusal naming the field.

    use super::*;

    fn ligne() -> Ligne {
        super::super::ruptures::tests::ligne()
    }

    fn cfa_lyon() -> Qui {
        Qui::Organisme("0693456K".into(), "12345678901234".into())
    }

    fn message(texte: &str) -> EnvoyerMessage {
        EnvoyerMessage { entree: ligne().entree, texte: texte.into() }
    }

    #[test]
    fn each_side_writes_on_an_entry_it_follows() {
        let (entree, event) =
            decide_message(&cfa_lyon(), Cote::Organisme, Some(&ligne()), message("  il a déménagé "))
                .expect("sent");
        assert_eq!(entree, ligne().entree);
        assert_eq!(
            event,
            FilEvent::Message(MessageEnvoye {
                cote: Cote::Organisme, texte: Some("il a déménagé".into())
            })
        );
        let ml = Qui::MissionLocale("ML-69".into());
        assert!(decide_message(&ml, Cote::MissionLocale, Some(&ligne()), message("rdv pris")).is_ok());
    }

    #[test]
    fn an_empty_message_or_another_sides_entry_is_refused_naming_the_field() {
        let refused = |outcome: Result<(String, FilEvent), CommandError>| match outcome {
            Err(CommandError::Invalid { field, .. }) => field,
            other => panic!("a refusal, not {other:?}"),
        };
        assert_eq!(
            refused(decide_message(&cfa_lyon(), Cote::Organisme, Some(&ligne()), message("  "))),
            "texte"
        );
        let paris = Qui::Organisme("0751234A".into(), "98765432109876".into());
        assert_eq!(refused(decide_message(&paris, Cote::Organisme, Some(&ligne()), message("x"))), "entree");
        let other_ml = Qui::MissionLocale("ML-75".into());
        assert_eq!(
            refused(decide_message(&other_ml, Cote::MissionLocale, Some(&ligne()), message("x"))),
            "entree"
        );
        assert_eq!(refused(decide_message(&cfa_lyon(), Cote::Organisme, None, message("x"))), "entree");
    }

    #[test]
    fn a_side_marks_read_up_to_the_other_sides_latest_message_once() {
        let entree = ligne().entree;
        let read =
            decide_lu(&cfa_lyon(), Cote::Organisme, Some(&ligne()), &entree, Some(42), 0).expect("decided");
        assert_eq!(
            read,
            Some((entree.clone(), FilEvent::Lus(MessagesLus { cote: Cote::Organisme, jusqu_a: 42 })))
        );
        assert_eq!(
            decide_lu(&cfa_lyon(), Cote::Organisme, Some(&ligne()), &entree, Some(42), 42).expect("decided"),
            None
        );
        assert_eq!(
            decide_lu(&cfa_lyon(), Cote::Organisme, Some(&ligne()), &entree, None, 0).expect("decided"),
            None
        );
    }

    #[test]
    fn only_the_two_sides_write() {
        let principal = |role| Principal {
            key_id: uuid::Uuid::nil(),
            prefix: "tba_x".into(),
            role,
            organisme: None,
            scope: None,
        };
        assert_eq!(cote(&principal(Role::MissionLocale)).expect("a side"), Cote::MissionLocale);
        assert_eq!(cote(&principal(Role::OrganismeFormation)).expect("a side"), Cote::Organisme);
        assert!(matches!(cote(&principal(Role::Administrateur)), Err(CommandError::Forbidden(_))));
    }
}
