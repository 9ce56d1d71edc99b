//! The thread between a CFA and a Mission Locale about a young person in rupture (domain.md §11), on the
//! person's follow-up stream (`rupture::stream_id`): messages, each from one side (who exactly is the
//! envelope's actor), and what each side has read. Read and unread are events too, never a flag: a side
//! has read every message up to the position its latest `MessagesLus` names.
//!
//! A message's text is personal data (sealed under the person key, absent once they are erased).

use serde::{Deserialize, Serialize};

pub const MESSAGE_ENVOYE: &str = "MessageEnvoye";
pub const MESSAGES_LUS: &str = "MessagesLus";

/// A side of the thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Cote {
    /// The organisme de formation (formateur or responsable of the person's dossier).
    Organisme,
    MissionLocale,
}

impl Cote {
    pub fn as_str(self) -> &'static str {
        match self {
            Cote::Organisme => "ORGANISME",
            Cote::MissionLocale => "MISSION_LOCALE",
        }
    }

    pub fn parse(text: &str) -> Option<Cote> {
        [Cote::Organisme, Cote::MissionLocale].into_iter().find(|c| c.as_str() == text)
    }

    /// The other side.
    pub fn autre(self) -> Cote {
        match self {
            Cote::Organisme => Cote::MissionLocale,
            Cote::MissionLocale => Cote::Organisme,
        }
    }
}

/// A message of the thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEnvoye {
    pub cote: Cote,
    /// Absent once the person is erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texte: Option<String>,
}

/// A side has read the thread up to a position of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagesLus {
    pub cote: Cote,
    pub jusqu_a: i64,
}

/// An event of the thread, read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilEvent {
    Message(MessageEnvoye),
    Lus(MessagesLus),
}

impl FilEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            FilEvent::Message(_) => MESSAGE_ENVOYE,
            FilEvent::Lus(_) => MESSAGES_LUS,
        }
    }

    pub fn data(&self) -> serde_json::Value {
        match self {
            FilEvent::Message(m) => serde_json::to_value(m),
            FilEvent::Lus(l) => serde_json::to_value(l),
        }
        .expect("thread events serialise to JSON")
    }

    /// Read a stored event of the thread; `Ok(None)` for another type of the follow-up stream.
    pub fn decode(event_type: &str, data: &serde_json::Value) -> Result<Option<Self>, serde_json::Error> {
        Ok(match event_type {
            MESSAGE_ENVOYE => Some(FilEvent::Message(MessageEnvoye::deserialize(data)?)),
            MESSAGES_LUS => Some(FilEvent::Lus(MessagesLus::deserialize(data)?)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_events_decode_from_what_they_encode_and_an_erased_text_reads_as_absent() {
        let message =
            FilEvent::Message(MessageEnvoye { cote: Cote::Organisme, texte: Some("rappelez-le".into()) });
        let lus = FilEvent::Lus(MessagesLus { cote: Cote::MissionLocale, jusqu_a: 42 });
        for event in [message, lus] {
            assert_eq!(FilEvent::decode(event.event_type(), &event.data()).unwrap(), Some(event.clone()));
        }
        let erased =
            FilEvent::decode(MESSAGE_ENVOYE, &serde_json::json!({ "cote": "MISSION_LOCALE" })).unwrap();
        assert_eq!(erased, Some(FilEvent::Message(MessageEnvoye { cote: Cote::MissionLocale, texte: None })));
        assert_eq!(FilEvent::decode("SituationRenseignee", &serde_json::json!({})).unwrap(), None);
        assert_eq!(Cote::parse("ORGANISME").map(Cote::autre), Some(Cote::MissionLocale));
    }
}
