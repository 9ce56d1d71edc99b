//! `journalDesAcces`: the access log (who read which nominative data, when), for AUDITOR and
//! ADMINISTRATEUR, as a connection paged by the entries' ids.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Error, ID, Json, Object, SimpleObject};
use sqlx::PgPool;

use super::error::{OrInternal, bad_input};
use super::types::DateTime;
use crate::auth::Role;
use crate::auth::access_log::{self, Access};
use crate::auth::viewer::Viewer;

/// The largest page of the access log.
const MAX_PAGE: i32 = 500;

/// One read of nominative data.
#[derive(Debug, SimpleObject)]
pub struct Acces {
    /// Its number in the access log (increasing).
    pub id: i64,
    /// When (UTC).
    pub at: DateTime,
    /// The API key used.
    pub cle: ID,
    /// Its role.
    pub role: String,
    /// The organisation it acts for (`UAI:SIRET`, `REGION:84`, or the role).
    pub organisation: String,
    /// What was read: `dossier`, `evenements` (a range of the log), `stream`.
    pub action: String,
    /// Which dossier, stream or range of positions.
    pub sujet: String,
    /// The fields asked for, where recorded.
    pub details: Json<serde_json::Value>,
}

impl From<Access> for Acces {
    fn from(a: Access) -> Self {
        Acces {
            id: a.id,
            at: DateTime(a.at),
            cle: ID(a.key_id.to_string()),
            role: a.role,
            organisation: a.organisation,
            action: a.action,
            sujet: a.subject,
            details: Json(a.details),
        }
    }
}

#[derive(Default)]
pub struct AccesQuery;

#[Object]
impl AccesQuery {
    /// The reads of nominative data recorded after entry `after` (0: from the first), oldest first, at
    /// most `first` (≤ 500); only those made with key `cle` when given. AUDITOR and ADMINISTRATEUR.
    async fn journal_des_acces(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 0)] after: i64,
        #[graphql(default = 100)] first: i32,
        cle: Option<ID>,
    ) -> Result<Connection<String, Acces>, Error> {
        ctx.data::<Viewer>()?.require(&[Role::Auditor, Role::Administrateur], "lire le journal des accès")?;
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(bad_input("first", format!("entre 1 et {MAX_PAGE}")));
        }
        let cle = cle
            .map(|id| uuid::Uuid::parse_str(&id).map_err(|_| bad_input("cle", "l'identifiant d'une clé")))
            .transpose()?;
        let mut entries =
            access_log::list(ctx.data::<PgPool>()?, after, i64::from(first) + 1, cle).await.or_internal()?;
        let has_next = entries.len() > first as usize;
        entries.truncate(first as usize);
        let mut connection = Connection::new(after > 0, has_next);
        connection.edges.extend(entries.into_iter().map(|a| Edge::new(a.id.to_string(), Acces::from(a))));
        Ok(connection)
    }
}
