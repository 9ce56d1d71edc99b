//! `appendEvents`: native dossier events, with the semantics and validation of `POST /api/v1/events`
//! (`ingestion::native`): the whole batch or nothing, every refused field named, a stale expected
//! version a `CONFLICT` naming every such dossier. Only the field names follow GraphQL's casing.

use std::collections::BTreeMap;

use async_graphql::{Context, Error, ErrorExtensions, ID, InputObject, Json, Object, SimpleObject};
use events::Channel;
use events::domain::{AnneeScolaire, Uai};
use uuid::Uuid;

use super::error::{Code, bad_input, error, internal};
use super::types::Date;
use crate::app::native::Appended;
use crate::auth::Role;
use crate::auth::viewer::Viewer;
use crate::ingestion::FieldError;
use crate::ingestion::native::{Batch, Item, NativeError, NaturalKey, StreamResult};

/// A dossier by its natural key.
#[derive(Debug, InputObject)]
pub struct DossierKeyInput {
    /// UAI of the organisme formateur.
    pub uai_formateur: String,
    /// `YYYY-YYYY`.
    pub annee_scolaire: String,
    /// The learner's id in the organisme's software.
    pub id_erp_apprenant: String,
}

/// One event for a dossier, named by `dossierId` or by `dossier`.
#[derive(Debug, InputObject)]
pub struct EventInput {
    /// The dossier's id (`dossier-<uuid>`).
    pub dossier_id: Option<ID>,
    /// Or its natural key.
    pub dossier: Option<DossierKeyInput>,
    /// InscriptionEnregistree, DatesSessionModifiees, FormationModifiee, ContratSigne, ContratModifie,
    /// RuptureEnregistree, AbandonEnregistre, DiplomeObtenu, CoordonneesModifiees, IdentiteModifiee,
    /// DossierRetire, CorrectionEnregistree.
    #[graphql(name = "type")]
    pub event_type: String,
    /// The event's content, as the log stores it (snake_case fields, as on `POST /api/v1/events`).
    pub data: Json<serde_json::Value>,
    /// A client id (a UUID) that makes a retry idempotent.
    pub id: Option<ID>,
    /// The business day it is about (today by default).
    pub occurred_at: Option<Date>,
}

/// The version a dossier must be at before the batch.
#[derive(Debug, InputObject)]
pub struct ExpectedVersionInput {
    /// The dossier's id (`dossier-<uuid>`).
    pub dossier_id: ID,
    /// Its number of events (0: a new dossier).
    pub version: i64,
}

/// What one dossier of the batch got.
#[derive(Debug, SimpleObject)]
pub struct DossierAppended {
    /// The dossier's id (`dossier-<uuid>`).
    pub dossier_id: ID,
    /// Its version after the batch.
    pub version: i64,
    /// The log positions of its events.
    pub positions: Vec<i64>,
    /// The ids of its events, in order.
    pub event_ids: Vec<ID>,
    /// The events were already in the log (an exact retry): nothing was written.
    pub replayed: bool,
}

/// The batch, recorded.
#[derive(Debug, SimpleObject)]
pub struct AppendEventsPayload {
    /// The correlation id every event of the batch carries.
    pub correlation_id: ID,
    /// Per dossier of the batch.
    pub results: Vec<DossierAppended>,
}

impl From<StreamResult> for DossierAppended {
    fn from(r: StreamResult) -> Self {
        DossierAppended {
            dossier_id: ID(r.dossier_id),
            version: r.version,
            positions: r.positions,
            event_ids: r.event_ids.iter().map(|id| ID(id.to_string())).collect(),
            replayed: r.replayed,
        }
    }
}

/// A REST field path in GraphQL's names (`events[2].dossier_id` → `events[2].dossierId`); the event's
/// `data` keeps the log's names.
fn graphql_path(path: &str) -> String {
    let (head, data) = path.split_once(".data").map_or((path, None), |(h, d)| (h, Some(d)));
    let head = [
        ("expected_versions", "expectedVersions"),
        ("dossier_id", "dossierId"),
        ("occurred_at", "occurredAt"),
        ("uai_formateur", "uaiFormateur"),
        ("annee_scolaire", "anneeScolaire"),
        ("id_erp_apprenant", "idErpApprenant"),
    ]
    .iter()
    .fold(head.to_owned(), |p, (rest, graphql)| p.replace(rest, graphql));
    match data {
        Some(data) => format!("{head}.data{data}"),
        None => head,
    }
}

/// The refused fields as one `BAD_USER_INPUT`: the first in the message and `extensions.field`, all
/// in `extensions.errors`.
fn refused(message: String, errors: &[FieldError]) -> Error {
    let errors: Vec<(String, String)> =
        errors.iter().map(|e| (graphql_path(&e.path), e.message.clone())).collect();
    let first = errors.first().map(|(path, message)| format!("{path} : {message}")).unwrap_or_default();
    Error::new(format!("{message} ; {first}")).extend_with(move |_, e| {
        e.set("code", Code::BadUserInput.as_str());
        if let Some((path, _)) = errors.first() {
            e.set("field", path.as_str());
        }
        let list: Vec<async_graphql::Value> = errors
            .iter()
            .map(|(path, message)| {
                async_graphql::Value::from_json(serde_json::json!({ "path": path, "message": message }))
                    .unwrap_or_default()
            })
            .collect();
        e.set("errors", list);
    })
}

fn item(index: usize, event: EventInput) -> Result<Item, Error> {
    let at = |field: &str| format!("events[{index}].{field}");
    let dossier = event
        .dossier
        .map(|key| {
            Ok::<_, Error>(NaturalKey {
                uai_formateur: Uai::parse(&key.uai_formateur)
                    .map_err(|e| bad_input(&at("dossier.uaiFormateur"), e))?,
                annee_scolaire: AnneeScolaire::parse(&key.annee_scolaire)
                    .map_err(|e| bad_input(&at("dossier.anneeScolaire"), e))?,
                id_erp_apprenant: key.id_erp_apprenant,
            })
        })
        .transpose()?;
    let id = event
        .id
        .map(|id| Uuid::parse_str(&id).map_err(|_| bad_input(&at("id"), "un UUID est attendu")))
        .transpose()?;
    Ok(Item {
        dossier_id: event.dossier_id.map(|id| id.0),
        dossier,
        event_type: event.event_type,
        data: event.data.0,
        id,
        occurred_at: event.occurred_at.map(|d| d.0),
    })
}

#[derive(Default)]
pub struct EventsMutation;

/// What can be written: events of the log.
#[Object]
impl EventsMutation {
    /// Append typed dossier events (an organisme's key for its own dossiers, or an administrator's):
    /// the whole batch or nothing, as `POST /api/v1/events`.
    async fn append_events(
        &self,
        ctx: &Context<'_>,
        events: Vec<EventInput>,
        expected_versions: Option<Vec<ExpectedVersionInput>>,
    ) -> Result<AppendEventsPayload, Error> {
        let principal = ctx
            .data::<Viewer>()?
            .require(&[Role::OrganismeFormation, Role::Administrateur], "enregistrer d'événements")?;
        let events = events.into_iter().enumerate().map(|(i, e)| item(i, e)).collect::<Result<_, _>>()?;
        let expected_versions: BTreeMap<String, i64> =
            expected_versions.unwrap_or_default().into_iter().map(|e| (e.dossier_id.0, e.version)).collect();
        let store = ctx.data::<events::EventStore>()?;
        let batch = Batch { events, expected_versions };
        match crate::app::native::append_events(store, principal, Channel::Graphql, batch).await {
            Ok(Appended { correlation_id, results }) => Ok(AppendEventsPayload {
                correlation_id: ID(correlation_id.to_string()),
                results: results.into_iter().map(Into::into).collect(),
            }),
            Err(failure) => {
                let message = failure.to_string();
                Err(match failure {
                    NativeError::Invalid(errors) => refused(message, &errors),
                    NativeError::Conflicts(conflicts) => {
                        let conflicts = serde_json::to_value(&conflicts).unwrap_or_default();
                        error(Code::Conflict, message).extend_with(move |_, e| {
                            if let Ok(value) = async_graphql::Value::from_json(conflicts.clone()) {
                                e.set("conflicts", value);
                            }
                        })
                    }
                    other => internal(other),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rest_paths_read_in_graphql_names_but_data_keeps_the_log_names() {
        assert_eq!(super::graphql_path("events[2].dossier_id"), "events[2].dossierId");
        assert_eq!(
            super::graphql_path("events[0].dossier.id_erp_apprenant"),
            "events[0].dossier.idErpApprenant"
        );
        assert_eq!(super::graphql_path("events[1].data.date_rupture"), "events[1].data.date_rupture");
        assert_eq!(super::graphql_path("expected_versions.dossier-1"), "expectedVersions.dossier-1");
    }
}
