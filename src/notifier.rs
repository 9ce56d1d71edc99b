//! Messages out of the service: e-mail through an SMTP server (`TBA_SMTP_URL`, e.g.
//! `smtp://relay.example.fr:25`, `smtps://user:password@smtp.example.fr:465`, or
//! `smtp://host:587?tls=required` for STARTTLS), from `TBA_SMTP_FROM`.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// The default sender.
pub const DEFAULT_FROM: &str = "tba <ne-pas-repondre@tba.localhost>";

/// An e-mail address, checked.
pub fn adresse(text: &str) -> Result<Address, String> {
    let text = text.trim();
    if text.len() > MAX_ADRESSE {
        return Err(format!("une adresse électronique tient en {MAX_ADRESSE} caractères"));
    }
    text.parse::<Address>().map_err(|e| format!("{text:?} n'est pas une adresse électronique ({e})"))
}

/// The longest e-mail address (RFC 5321's path limit).
const MAX_ADRESSE: usize = 254;

/// An SMTP server and the sender it sends as.
#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    pub fn new(url: &str, from: &str) -> anyhow::Result<Smtp> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("TBA_SMTP_URL : {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from.parse::<Mailbox>().map_err(|e| anyhow::anyhow!("TBA_SMTP_FROM {from:?} : {e}"))?;
        Ok(Smtp { transport, from })
    }

    /// Send a plain-text message; done once the server accepted it.
    pub async fn envoyer(&self, to: &str, sujet: &str, texte: &str) -> Result<(), String> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, adresse(to)?))
            .subject(sujet)
            .header(ContentType::TEXT_PLAIN)
            .body(texte.to_owned())
            .map_err(|e| e.to_string())?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_checked_and_the_settings_too() {
        assert!(adresse(" contact@ml-lyon.fr ").is_ok());
        assert!(adresse(&format!("{}@ml-lyon.fr", "a".repeat(300))).is_err(), "too long");
        for wrong in ["contact", "contact@", "@ml-lyon.fr", "a b@ml-lyon.fr"] {
            assert!(adresse(wrong).is_err(), "{wrong}");
        }
        assert!(Smtp::new("smtp://127.0.0.1:2525", DEFAULT_FROM).is_ok());
        assert!(Smtp::new("http://127.0.0.1", DEFAULT_FROM).is_err());
        assert!(Smtp::new("smtp://127.0.0.1:2525", "not an address").is_err());
    }
}
