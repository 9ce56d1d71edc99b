//! Channel 2: systems that emit facts themselves append the same typed dossier events directly. A
//! batch names, per event, its dossier (by id or natural key), its type and data exactly as the log
//! stores them, optionally a client id (for idempotent retries) and a business date; the batch may
//! say which version each dossier must be at. Everything is validated first (types, domain values,
//! dates, organismes, who may write to which dossier); then the batch is written in one transaction:
//! all of it, or, when a dossier is not at the expected version, none of it and every conflict named.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{NaiveDate, Utc};
use events::domain::{AnneeScolaire, Uai};
use events::dossier::{Dossier, DossierEvent, DossierKey, PersonKey};
use events::store::append_in_transaction;
use events::{AppendError, AppendOutcome, AppendRequest, EventStore, ExpectedVersion, RecordedEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::FieldError;
use super::snapshots::Transmitter;

/// At most this many events per request.
pub const MAX_EVENTS: usize = 5000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub events: Vec<Item>,
    /// The version each dossier must be at before this batch (by dossier id).
    #[serde(default)]
    pub expected_versions: BTreeMap<String, i64>,
}

/// One event: its dossier (`dossier_id`, or `dossier`), its type, and its data as the log stores it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    #[serde(default)]
    pub dossier_id: Option<String>,
    #[serde(default)]
    pub dossier: Option<NaturalKey>,
    /// InscriptionEnregistree, DatesSessionModifiees, FormationModifiee, ContratSigne, ContratModifie,
    /// RuptureEnregistree, AbandonEnregistre, DiplomeObtenu, CoordonneesModifiees, IdentiteModifiee,
    /// DossierRetire, CorrectionEnregistree
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(value_type = Object)]
    pub data: Value,
    #[serde(default)]
    pub id: Option<Uuid>,
    #[serde(default)]
    pub occurred_at: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NaturalKey {
    #[schema(value_type = String)]
    pub uai_formateur: Uai,
    #[schema(value_type = String)]
    pub annee_scolaire: AnneeScolaire,
    pub id_erp_apprenant: String,
}

/// What one dossier of the batch got.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StreamResult {
    pub dossier_id: String,
    pub version: i64,
    pub positions: Vec<i64>,
    pub event_ids: Vec<Uuid>,
    /// The events were already in the log (an exact retry): nothing was written.
    pub replayed: bool,
}

/// A dossier that was not at the version the batch expected.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Conflict {
    pub dossier_id: String,
    pub expected: Option<i64>,
    pub actual: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    #[error("{} erreur(s) dans le lot d'événements ; rien n'a été enregistré", .0.len())]
    Invalid(Vec<FieldError>),
    #[error("{} dossier(s) ne sont pas à la version attendue ; rien n'a été enregistré", .0.len())]
    Conflicts(Vec<Conflict>),
    #[error(transparent)]
    Store(#[from] events::StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the log refused the events of {stream}: {error}")]
    Append { stream: String, error: AppendError },
}

/// One event, typed and placed.
struct Typed {
    stream: String,
    event: DossierEvent,
    id: Option<Uuid>,
    occurred_at: Option<NaiveDate>,
}

/// Validate and append a batch. Either every event is recorded, or none.
pub async fn append(
    store: &EventStore,
    transmitter: &Transmitter,
    correlation: Uuid,
    batch: Batch,
) -> Result<Vec<StreamResult>, NativeError> {
    if batch.events.len() > MAX_EVENTS {
        return Err(NativeError::Invalid(vec![FieldError::new(
            "events",
            format!("{} événements : {MAX_EVENTS} au plus par requête", batch.events.len()),
        )]));
    }
    let mut errors = Vec::new();
    let mut typed = Vec::new();
    for (i, item) in batch.events.into_iter().enumerate() {
        match type_item(item) {
            Ok(t) => typed.push((i, t)),
            Err(mut e) => errors.extend(e.drain(..).map(|f| at(i, f))),
        }
    }
    let streams: Vec<String> =
        typed.iter().map(|(_, t)| t.stream.clone()).collect::<HashSet<_>>().into_iter().collect();
    let logged = store.read_streams(&streams).await?;
    let known = known_organismes(store, &typed).await?;
    let mut states: HashMap<String, (Dossier, HashSet<Uuid>)> = HashMap::new();
    for stream in &streams {
        let past = logged.get(stream).map(Vec::as_slice).unwrap_or_default();
        states.insert(stream.clone(), fold(past));
    }
    let today = Utc::now().date_naive();
    for (i, t) in &typed {
        let (dossier, ids) = states.get_mut(&t.stream).expect("every stream was folded");
        match check(t, dossier, ids, transmitter, &known, today) {
            Ok(()) => {
                dossier.apply(&t.event);
                if let Some(id) = t.id {
                    ids.insert(id);
                }
            }
            Err(e) => errors.extend(e.into_iter().map(|f| at(*i, f))),
        }
    }
    for stream in batch.expected_versions.keys() {
        if !streams.contains(stream) {
            errors.push(FieldError::new(
                format!("expected_versions.{stream}"),
                "ce dossier n'a aucun événement dans le lot",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(NativeError::Invalid(errors));
    }
    write(store, transmitter, correlation, typed, &batch.expected_versions, today).await
}

fn at(index: usize, error: FieldError) -> FieldError {
    let path = if error.path.is_empty() {
        format!("events[{index}]")
    } else {
        format!("events[{index}].{}", error.path)
    };
    FieldError { path, message: error.message }
}

/// The item's dossier and typed event, or what is wrong with it.
fn type_item(item: Item) -> Result<Typed, Vec<FieldError>> {
    let stream = match (&item.dossier_id, &item.dossier) {
        (Some(id), None) => {
            let valid = id.strip_prefix("dossier-").is_some_and(|u| Uuid::parse_str(u).is_ok());
            if !valid {
                return Err(vec![FieldError::new(
                    "dossier_id",
                    "identifiant de dossier attendu (dossier-<uuid>)",
                )]);
            }
            id.clone()
        }
        (None, Some(key)) => {
            DossierKey::new(key.uai_formateur.clone(), key.annee_scolaire.clone(), &key.id_erp_apprenant)
                .map_err(|e| vec![FieldError::new("dossier.id_erp_apprenant", e.to_string())])?
                .stream_id()
        }
        _ => {
            return Err(vec![FieldError::new(
                "dossier_id",
                "chaque événement nomme son dossier : dossier_id, ou dossier {uai_formateur, annee_scolaire, id_erp_apprenant}",
            )]);
        }
    };
    let mut data = item.data;
    let keyed = matches!(item.event_type.as_str(), "InscriptionEnregistree" | "IdentiteModifiee");
    if keyed && let Some(fields) = data.as_object_mut() {
        // The person key is the server's to compute; a client need not send it.
        fields.entry("personne").or_insert_with(|| serde_json::json!({ "identite": "" }));
    }
    let event = typed_event(&item.event_type, data)?;
    let today = Utc::now().date_naive();
    if let Err(out) = event.bornes().and_then(|()| event.plausible(today)) {
        return Err(vec![FieldError::new(format!("data.{}", out.path), out.invalid.0)]);
    }
    // Only an erasure makes personal data read as erased; a producer cannot say so.
    let erased = || {
        vec![FieldError::new("data.personnel.efface", "réservé aux personnes effacées : ne l'envoyez pas")]
    };
    let event = match event {
        DossierEvent::InscriptionEnregistree(mut i) => {
            let p = &i.personnel;
            if p.efface {
                return Err(erased());
            }
            i.personne = PersonKey::new(&p.nom, &p.prenom, p.date_de_naissance, p.ine.clone());
            DossierEvent::InscriptionEnregistree(i)
        }
        DossierEvent::IdentiteModifiee(mut i) => {
            let p = &i.personnel;
            if p.efface {
                return Err(erased());
            }
            i.personne = PersonKey::new(&p.nom, &p.prenom, p.date_de_naissance, p.ine.clone());
            DossierEvent::IdentiteModifiee(i)
        }
        other => other,
    };
    Ok(Typed { stream, event, id: item.id, occurred_at: item.occurred_at })
}

/// The event of that type with that data, each refused field named by its path.
fn typed_event(event_type: &str, data: Value) -> Result<DossierEvent, Vec<FieldError>> {
    let mut track = serde_path_to_error::Track::new();
    let read = DossierEvent::read(event_type, serde_path_to_error::Deserializer::new(&data, &mut track));
    match read {
        Ok(Some(event)) => Ok(event),
        Ok(None) => Err(vec![FieldError::new(
            "type",
            format!("type d'événement inconnu {event_type:?} ; types possibles : {}", EVENT_TYPES.join(", ")),
        )]),
        Err(error) => {
            let path = track.path().to_string();
            let path = if path == "." { "data".to_owned() } else { format!("data.{path}") };
            Err(vec![FieldError::new(path, error.to_string())])
        }
    }
}

/// Every dossier event type a producer may send.
pub const EVENT_TYPES: [&str; 12] = [
    "InscriptionEnregistree",
    "DatesSessionModifiees",
    "FormationModifiee",
    "ContratSigne",
    "ContratModifie",
    "RuptureEnregistree",
    "AbandonEnregistre",
    "DiplomeObtenu",
    "CoordonneesModifiees",
    "IdentiteModifiee",
    "DossierRetire",
    "CorrectionEnregistree",
];

/// The dossier as the log makes it, and the ids of its events.
fn fold(past: &[RecordedEvent]) -> (Dossier, HashSet<Uuid>) {
    (Dossier::from_log(past), past.iter().map(|e| e.event_id).collect())
}

/// The rules an event must follow, given its dossier as the log (and the batch so far) makes it.
fn check(
    t: &Typed,
    dossier: &Dossier,
    ids: &HashSet<Uuid>,
    transmitter: &Transmitter,
    known: &HashSet<(String, String)>,
    today: NaiveDate,
) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut refuse = |path: &str, message: String| errors.push(FieldError::new(path, message));
    let own = |uai: &Uai, siret: &events::domain::Siret| {
        transmitter.organisme.as_ref().is_none_or(|o| &o.uai == uai && &o.siret == siret)
    };
    match (&t.event, &dossier.inscription) {
        (DossierEvent::InscriptionEnregistree(i), _) => {
            let key = DossierKey::new(i.formateur.uai.clone(), i.annee_scolaire.clone(), &i.id_erp_apprenant);
            if key.map(|k| k.stream_id()).ok().as_deref() != Some(t.stream.as_str()) {
                refuse("data.id_erp_apprenant", "l'inscription ne correspond pas au dossier nommé (organisme formateur, année scolaire, id_erp_apprenant)".into());
            }
            for (path, o) in [("data.formateur", &i.formateur), ("data.responsable", &i.responsable)] {
                if !known.contains(&(o.uai.to_string(), o.siret.to_string())) {
                    refuse(
                        path,
                        format!(
                            "organisme inconnu du référentiel des organismes (UAI {}, SIRET {})",
                            o.uai, o.siret
                        ),
                    );
                }
            }
            if !own(&i.formateur.uai, &i.formateur.siret) && !own(&i.responsable.uai, &i.responsable.siret) {
                refuse(
                    "data.formateur",
                    "une clé d'organisme n'inscrit que ses propres apprenants (formateur ou responsable)"
                        .into(),
                );
            }
            if i.session.date_fin < i.session.date_entree {
                refuse(
                    "data.session.date_fin",
                    "la date de fin précède la date d'entrée en formation".into(),
                );
            }
        }
        (_, None) => refuse(
            "type",
            "ce dossier n'existe pas encore : son premier événement est InscriptionEnregistree".into(),
        ),
        (_, Some(i))
            if !own(&i.formateur.uai, &i.formateur.siret)
                && !own(&i.responsable.uai, &i.responsable.siret) =>
        {
            refuse("dossier_id", "ce dossier n'est pas celui d'un apprenant de l'organisme de la clé".into())
        }
        (DossierEvent::IdentiteModifiee(_), Some(i)) if i.personnel.efface => refuse(
            "type",
            "la personne de ce dossier a été effacée : son identité n'est plus enregistrée".into(),
        ),
        (DossierEvent::IdentiteModifiee(identite), Some(i)) => {
            let naissance = identite.personnel.date_de_naissance;
            if let Err(invalid) = events::limits::naissance(naissance, i.session.date_entree) {
                refuse("data.personnel.date_de_naissance", invalid.0);
            }
        }
        (event, Some(_)) => check_dates(event, ids, today, &mut refuse),
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn check_dates(
    event: &DossierEvent,
    ids: &HashSet<Uuid>,
    today: NaiveDate,
    refuse: &mut impl FnMut(&str, String),
) {
    let future = |date: NaiveDate| date > today;
    match event {
        DossierEvent::DatesSessionModifiees(s) if s.date_fin < s.date_entree => {
            refuse("data.date_fin", "la date de fin précède la date d'entrée en formation".into())
        }
        DossierEvent::ContratSigne(c) | DossierEvent::ContratModifie(c)
            if c.date_fin.is_some_and(|f| f < c.date_debut) =>
        {
            refuse("data.date_fin", "la fin du contrat précède son début".into())
        }
        DossierEvent::RuptureEnregistree(r) if future(r.date_rupture) => {
            refuse("data.date_rupture", "une rupture ne peut pas être datée dans le futur".into())
        }
        DossierEvent::AbandonEnregistre(a) if future(a.date_exclusion) => {
            refuse("data.date_exclusion", "un abandon ne peut pas être daté dans le futur".into())
        }
        DossierEvent::CorrectionEnregistree(c) if !ids.contains(&c.corrige) => {
            refuse("data.corrige", "la correction doit nommer un événement de ce dossier".into())
        }
        DossierEvent::CorrectionEnregistree(c) if c.raison.trim().is_empty() => {
            refuse("data.raison", "une correction dit pourquoi".into())
        }
        _ => {}
    }
}

async fn known_organismes(
    store: &EventStore,
    typed: &[(usize, Typed)],
) -> Result<HashSet<(String, String)>, NativeError> {
    let (uais, sirets): (Vec<String>, Vec<String>) = typed
        .iter()
        .filter_map(|(_, t)| match &t.event {
            DossierEvent::InscriptionEnregistree(i) => Some([&i.formateur, &i.responsable]),
            _ => None,
        })
        .flatten()
        .map(|o| (o.uai.to_string(), o.siret.to_string()))
        .unzip();
    Ok(super::organismes::known(store.pool(), &uais, &sirets).await?)
}

/// Write the whole batch in one transaction, or nothing.
async fn write(
    store: &EventStore,
    transmitter: &Transmitter,
    correlation: Uuid,
    typed: Vec<(usize, Typed)>,
    expected_versions: &BTreeMap<String, i64>,
    today: NaiveDate,
) -> Result<Vec<StreamResult>, NativeError> {
    let metadata = transmitter.metadata(correlation);
    let mut order: Vec<String> = Vec::new();
    let mut by_stream: HashMap<String, Vec<events::NewEvent>> = HashMap::new();
    for (_, t) in typed {
        let mut event = t
            .event
            .to_new_event(t.occurred_at.unwrap_or_else(|| t.event.occurred_on(today)), metadata.clone());
        event.id = t.id;
        if !by_stream.contains_key(&t.stream) {
            order.push(t.stream.clone());
        }
        by_stream.entry(t.stream).or_default().push(event);
    }
    let requests = order
        .iter()
        .map(|stream| {
            let expected = match expected_versions.get(stream) {
                None => ExpectedVersion::Any,
                Some(0) => ExpectedVersion::NoStream,
                Some(&v) => ExpectedVersion::Exact(v),
            };
            AppendRequest::new(stream.clone(), expected, by_stream.remove(stream).unwrap_or_default())
        })
        .collect();
    let mut tx = store.pool().begin().await?;
    let results = append_in_transaction(&mut tx, store.vault(), requests).await?;
    let (mut written, mut conflicts) = (Vec::new(), Vec::new());
    for (stream, result) in order.into_iter().zip(results) {
        match result {
            Ok(AppendOutcome { positions, version, event_ids, replayed, .. }) => {
                written.push(StreamResult { dossier_id: stream, version, positions, event_ids, replayed })
            }
            Err(AppendError::Conflict { actual, .. }) => conflicts.push(Conflict {
                expected: expected_versions.get(&stream).copied(),
                dossier_id: stream,
                actual,
            }),
            Err(AppendError::IdReused { id, position }) => {
                return Err(NativeError::Invalid(vec![FieldError::new(
                    "id",
                    format!("l'événement {id} existe déjà (position {position}) avec un autre contenu"),
                )]));
            }
            Err(AppendError::PartialReplay { already }) => {
                return Err(NativeError::Invalid(vec![FieldError::new(
                    "id",
                    format!(
                        "les événements {already:?} du dossier {stream} existent déjà mais pas les autres : \
                         renvoyez le lot à l'identique, ou de nouveaux événements"
                    ),
                )]));
            }
            Err(error) => return Err(NativeError::Append { stream, error }),
        }
    }
    if !conflicts.is_empty() {
        tx.rollback().await?;
        return Err(NativeError::Conflicts(conflicts));
    }
    tx.commit().await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    //! Given the dossier as the log makes it, when a producer sends this event, then it is taken or
    //! refused naming the field.

    use events::Actor;

    use super::*;

    const LYON: (&str, &str) = ("0693456K", "12345678901234");
    const LYON_RESPONSABLE: (&str, &str) = ("0693455J", "12345678900012");
    const PARIS: (&str, &str) = ("0751234A", "98765432109876");

    /// The events an ERP's first push of the fixture's dossier makes, with the dossier's stream.
    fn pushed() -> (String, Vec<DossierEvent>) {
        let events = crate::ingestion::fixtures::first_push();
        let DossierEvent::InscriptionEnregistree(i) = &events[0] else { panic!("an inscription first") };
        let key = DossierKey::new(i.formateur.uai.clone(), i.annee_scolaire.clone(), &i.id_erp_apprenant);
        (key.expect("a key").stream_id(), events)
    }

    fn typed(stream: &str, event: DossierEvent) -> Typed {
        Typed { stream: stream.to_owned(), event, id: None, occurred_at: None }
    }

    fn by(organisme: (&str, &str)) -> Transmitter {
        let organisme = Some(format!("{}:{}", organisme.0, organisme.1).parse().expect("an organisme"));
        Transmitter { organisme, actor: Actor::default(), channel: events::Channel::Events }
    }

    fn known() -> HashSet<(String, String)> {
        [LYON, LYON_RESPONSABLE, PARIS].iter().map(|(u, s)| (u.to_string(), s.to_string())).collect()
    }

    fn checked(dossier: &Dossier, event: Typed, transmitter: &Transmitter) -> Result<(), Vec<String>> {
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).expect("a day");
        check(&event, dossier, &HashSet::new(), transmitter, &known(), today)
            .map_err(|errors| errors.into_iter().map(|e| e.path).collect())
    }

    #[test]
    fn an_organisme_inscribes_its_own_learner_and_then_writes_to_their_dossier() {
        let (stream, events) = pushed();
        let empty = Dossier::default();
        assert_eq!(checked(&empty, typed(&stream, events[0].clone()), &by(LYON)), Ok(()));
        let dossier = Dossier::from_events(&[(Uuid::new_v4(), events[0].clone())]);
        assert_eq!(checked(&dossier, typed(&stream, events[1].clone()), &by(LYON)), Ok(()));
    }

    #[test]
    fn a_dossier_starts_with_its_inscription_under_its_own_key() {
        let (stream, events) = pushed();
        let refused = checked(&Dossier::default(), typed(&stream, events[1].clone()), &by(LYON));
        assert_eq!(refused, Err(vec!["type".to_owned()]));
        let elsewhere = checked(&Dossier::default(), typed("dossier-other", events[0].clone()), &by(LYON));
        assert_eq!(elsewhere, Err(vec!["data.id_erp_apprenant".to_owned()]));
    }

    #[test]
    fn another_organismes_dossier_is_refused() {
        let (stream, events) = pushed();
        let inscription = checked(&Dossier::default(), typed(&stream, events[0].clone()), &by(PARIS));
        assert_eq!(inscription, Err(vec!["data.formateur".to_owned()]));
        let dossier = Dossier::from_events(&[(Uuid::new_v4(), events[0].clone())]);
        let later = checked(&dossier, typed(&stream, events[1].clone()), &by(PARIS));
        assert_eq!(later, Err(vec!["dossier_id".to_owned()]));
    }

    #[test]
    fn an_organisme_the_referential_does_not_know_is_refused() {
        let (stream, events) = pushed();
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).expect("a day");
        let outcome = check(
            &typed(&stream, events[0].clone()),
            &Dossier::default(),
            &HashSet::new(),
            &by(LYON),
            &HashSet::new(),
            today,
        );
        let paths: Vec<String> = outcome.expect_err("refused").into_iter().map(|e| e.path).collect();
        assert_eq!(paths, vec!["data.formateur".to_owned(), "data.responsable".to_owned()]);
    }
}
