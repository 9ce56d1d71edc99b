//! The collaboration's recaps (domain.md §11) as their recipients read them, whether or not the
//! service e-mails them (`app::recapitulatifs` produces and sends them).

use async_graphql::{Context, Enum, Error, ID, Json, Object, SimpleObject};
use events::EventStore;

use super::error::{OrInternal, bad_input};
use super::types::DateTime;
use crate::app::recapitulatifs::lire;
use crate::auth::viewer::Viewer;

/// Which recap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "events::recapitulatif::Genre")]
pub enum GenreRecapitulatif {
    /// To a Mission Locale, daily: the CFAs' requests it has left unanswered for 24 h, per CFA.
    DemandesEnAttente,
    /// To a Mission Locale, weekly: its queue at the end of the week, the requests, messages and
    /// situations of the week.
    HebdomadaireMissionLocale,
    /// To a CFA, daily: the situations the Missions Locales recorded on its entries, and their messages.
    ActionsMissionsLocales,
}

/// A recap: a message produced from the log, with the figures it was written from. It names
/// organisations, never a young person.
#[derive(Debug, SimpleObject)]
pub struct Recapitulatif {
    /// Its event id.
    pub id: ID,
    /// Which recap.
    pub genre: GenreRecapitulatif,
    /// `MISSION_LOCALE:<id>` or `ORGANISME:<uai>:<siret>`.
    pub destinataire: String,
    /// The period it looked at (knowledge time), from `du` …
    pub du: DateTime,
    /// … to `au` (excluded).
    pub au: DateTime,
    /// The message's subject.
    pub sujet: String,
    /// The message's text.
    pub texte: String,
    /// The figures, as the event keeps them.
    pub chiffres: Json<serde_json::Value>,
    /// When it was produced.
    pub produit_le: DateTime,
    /// Its log position.
    pub position: i64,
    /// The address it is to be e-mailed to (null: none known, readable here only).
    pub adresse: Option<String>,
    /// When the SMTP server accepted it (null: not sent).
    pub envoye_le: Option<DateTime>,
}

#[derive(Default)]
pub struct RecapitulatifsQuery;

#[Object]
impl RecapitulatifsQuery {
    /// The caller's recaps, newest first, at most `first` (≤ 100): a Mission Locale's or an organisme's
    /// own; ADMINISTRATEUR and AUDITOR name the `destinataire`.
    async fn recapitulatifs(
        &self,
        ctx: &Context<'_>,
        destinataire: Option<String>,
        #[graphql(default = 20)] first: i32,
    ) -> Result<Vec<Recapitulatif>, Error> {
        let destinataire = ctx.data::<Viewer>()?.recapitulatifs(destinataire.as_deref())?;
        if !(1..=100).contains(&first) {
            return Err(bad_input("first", "entre 1 et 100"));
        }
        let lus = lire(ctx.data::<EventStore>()?, &destinataire, first as usize).await.or_internal()?;
        Ok(lus
            .into_iter()
            .map(|l| Recapitulatif {
                id: ID(l.id.to_string()),
                genre: l.recap.genre.into(),
                destinataire: l.recap.destinataire.0,
                du: DateTime(l.recap.du),
                au: DateTime(l.recap.au),
                sujet: l.recap.sujet,
                texte: l.recap.texte,
                chiffres: Json(l.recap.chiffres),
                produit_le: DateTime(l.produit_le),
                position: l.position,
                adresse: l.recap.adresse,
                envoye_le: l.envoye.map(|(le, _)| DateTime(le)),
            })
            .collect())
    }
}
