//! Subscriptions over `/graphql/ws` (graphql-transport-ws, and the legacy graphql-ws protocol):
//! `eventsAppended(after)` streams the log from a position, catching up then following it live with
//! no gap (the store's subscription: the log is the truth, NOTIFY only wakes it);
//! `indicateursChanged` sends the indicators again whenever the read model has moved and they
//! changed, at most once a second; `ruptureQueue(missionLocale)` pushes the entries of a Mission
//! Locale's queue as the rupture projection changes them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::futures_util::Stream;
use async_graphql::futures_util::future::BoxFuture;
use async_graphql::futures_util::stream;
use async_graphql::{Context, Error, ID, Subscription};
use chrono::{NaiveDate, Utc};
use events::EventStore;
use projections::france_travail::query::{self as ft_query, Perimetre};
use projections::indicateurs::{self, Filtre};
use projections::ruptures::query::{self as ruptures_query, Qui};
use sqlx::PgPool;
use uuid::Uuid;

use super::error::{Code, OrInternal, bad_input, error, internal};
use super::france_travail::EntreeFranceTravail;
use super::indicateurs::{IndicateursFiltre, IndicateursGroupe};
use super::log::Evenement;
use super::ruptures::RuptureEntree;
use super::types::{Date, Dimension};
use crate::auth::Role;
use crate::auth::access_log;
use crate::auth::viewer::Viewer;
use crate::read_models::{self, ReadModel};

/// Events a catching-up `eventsAppended` reads at once: what one subscriber holds in memory however far
/// behind it is (the socket's backpressure does the rest: a slow reader is not read for).
const EVENTS_BATCH: i64 = 100;

/// How many subscriptions each key holds open, so that one key cannot take the service's memory and
/// connections from the others; a subscription gives its place back when it ends.
pub struct Permits {
    max: usize,
    held: Arc<Mutex<HashMap<Uuid, usize>>>,
}

/// A place held by one subscription of a key.
struct Permit {
    key: Uuid,
    held: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

impl Permits {
    pub fn new(max: usize) -> Self {
        Permits { max, held: Arc::default() }
    }

    /// A place for a subscription of the caller's key (none needed without a key), or RATE_LIMITED.
    fn take(&self, viewer: &Viewer) -> Result<Option<Permit>, Error> {
        let Ok(principal) = viewer.principal() else { return Ok(None) };
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = held.entry(principal.key_id).or_default();
        if *count >= self.max {
            return Err(error(
                Code::RateLimited,
                format!("{} abonnements au plus par clé à la fois : fermez-en un d'abord", self.max),
            ));
        }
        *count += 1;
        Ok(Some(Permit { key: principal.key_id, held: self.held.clone() }))
    }
}

/// `stream`, holding `permit` for as long as it lives.
fn holding<S: Stream>(permit: Option<Permit>, stream: S) -> impl Stream<Item = S::Item> {
    use async_graphql::futures_util::StreamExt;
    stream.map(move |item| {
        let _held = &permit;
        item
    })
}

/// A `ruptureQueue` subscription wakes when the queue's projection commits (any process); it also
/// looks this often, should a notification be lost.
const QUEUE_LOOK: Duration = Duration::from_secs(5);

/// How long a `ruptureQueue` subscription waits after failing to read the queue.
const QUEUE_RETRY: Duration = Duration::from_millis(500);
/// At most one indicators update per subscription in this time.
const THROTTLE: Duration = Duration::from_secs(1);

/// What a followed queue sends after a log position, on a day.
type Fetch<T> =
    Arc<dyn Fn(PgPool, i64, NaiveDate) -> BoxFuture<'static, Result<Vec<T>, sqlx::Error>> + Send + Sync>;

/// Follow a queue's read model: each new or changed entry `fetch` gives once the read model has
/// projected it (and the dossiers as far: an entry shows its dossier), within about a second of its
/// event's commit. Where the read model stands is read first, then the subscription is recorded in the
/// access log (`action` on `sujet`): every later change is sent.
async fn suivre<T: Send + 'static>(
    ctx: &Context<'_>,
    model: ReadModel,
    action: &str,
    sujet: &str,
    fetch: Fetch<T>,
) -> Result<impl Stream<Item = Result<T, Error>> + use<T>, Error> {
    let viewer = ctx.data::<Viewer>()?;
    let permit = ctx.data::<Permits>()?.take(viewer)?;
    let pool = ctx.data::<PgPool>()?.clone();
    let after =
        read_models::position(&mut *pool.acquire().await.or_internal()?, model).await.or_internal()?;
    ctx.data::<access_log::Journal>()?
        .record(viewer.principal()?, action, sujet, serde_json::json!({}))
        .await
        .or_internal()?;
    let store = ctx.data::<EventStore>()?.clone();
    let checkpoint = read_models::checkpoint(model);
    let dossiers = read_models::checkpoint(ReadModel::Dossiers);
    let state = (pool, after, VecDeque::<T>::new());
    Ok(holding(
        permit,
        stream::unfold(state, move |(pool, mut after, mut pending)| {
            let (store, checkpoint, dossiers, fetch) =
                (store.clone(), checkpoint.clone(), dossiers.clone(), fetch.clone());
            async move {
                loop {
                    if let Some(entree) = pending.pop_front() {
                        return Some((Ok(entree), (pool, after, pending)));
                    }
                    store.wait_checkpoint(&checkpoint, after + 1, QUEUE_LOOK).await;
                    let changed = async {
                        let reached = read_models::position(&mut *pool.acquire().await?, model).await?;
                        if reached <= after {
                            return Ok((after, Vec::new()));
                        }
                        store.wait_checkpoint(&dossiers, reached, QUEUE_LOOK).await;
                        let entrees = fetch(pool.clone(), after, Utc::now().date_naive()).await?;
                        Ok::<_, sqlx::Error>((reached, entrees))
                    };
                    match changed.await {
                        Ok((reached, entrees)) => {
                            after = reached;
                            pending.extend(entrees);
                        }
                        Err(error) => {
                            // Not again at once: the checkpoint that woke us is still ahead.
                            tokio::time::sleep(QUEUE_RETRY).await;
                            return Some((Err(internal(error)), (pool, after, pending)));
                        }
                    }
                }
            }
        }),
    ))
}

#[derive(Default)]
pub struct SubscriptionRoot;

/// What can be followed live: the log, the indicators.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every event after position `after` (0: from the start), in position order: first those already
    /// in the log, then each one as it is committed, none missed or repeated. AUDITOR and
    /// ADMINISTRATEUR; the subscription is recorded in the access log.
    async fn events_appended(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 0)] after: i64,
    ) -> Result<impl Stream<Item = Result<Evenement, Error>>, Error> {
        let principal =
            ctx.data::<Viewer>()?.require(&[Role::Auditor, Role::Administrateur], "suivre le journal")?;
        if after < 0 {
            return Err(bad_input("after", "une position est positive ou nulle"));
        }
        let subject = format!("{}..", after + 1);
        ctx.data::<access_log::Journal>()?
            .record(principal, "eventsAppended", &subject, serde_json::json!({}))
            .await
            .or_internal()?;
        let permit = ctx.data::<Permits>()?.take(ctx.data::<Viewer>()?)?;
        let subscription = ctx.data::<EventStore>()?.subscribe(after).with_batch_size(EVENTS_BATCH);
        Ok(holding(
            permit,
            stream::unfold(
                (subscription, VecDeque::new(), false),
                |(mut subscription, mut batch, failed)| async move {
                    if failed {
                        return None;
                    }
                    loop {
                        if let Some(event) = batch.pop_front() {
                            return Some((Ok(Evenement::from(event)), (subscription, batch, false)));
                        }
                        match subscription.next_batch().await {
                            Ok(events) => batch.extend(events),
                            // The stream ends after telling why; the client resumes from its last position.
                            Err(error) => return Some((Err(internal(error)), (subscription, batch, true))),
                        }
                    }
                },
            ),
        ))
    }

    /// The entries of a Mission Locale's queue, or of an organisme's ruptures list, as they change:
    /// each new or changed entry (one that left too: `visible`, or `visibleCfa` for an organisme, false)
    /// once the queue has projected it, within about a second of its event's commit. A Mission Locale's
    /// key follows its queue (what its CFAs share with it), an organisme's key its list;
    /// ADMINISTRATEUR and AUDITOR name a Mission Locale. The subscription is recorded in the access log.
    async fn rupture_queue(
        &self,
        ctx: &Context<'_>,
        mission_locale: Option<ID>,
    ) -> Result<impl Stream<Item = Result<RuptureEntree, Error>>, Error> {
        let viewer = ctx.data::<Viewer>()?;
        let ml = match viewer.ruptures(mission_locale.as_ref().map(|m| m.as_str()))? {
            Qui::Tout => return Err(bad_input("missionLocale", "nommez la Mission Locale à suivre")),
            qui => qui,
        };
        let sujet = match &ml {
            Qui::MissionLocale(id) => id.clone(),
            Qui::Organisme(uai, siret) => format!("{uai}:{siret}"),
            Qui::Tout => String::new(),
        };
        let fetch: Fetch<RuptureEntree> = Arc::new(move |pool, after, jour| {
            let ml = ml.clone();
            Box::pin(async move {
                let lignes = ruptures_query::changees(&mut *pool.acquire().await?, &ml, after, jour).await?;
                Ok(lignes.into_iter().map(|ligne| RuptureEntree { ligne, jour }).collect())
            })
        });
        suivre(ctx, ReadModel::Ruptures, "ruptureQueue", &sujet, fetch).await
    }

    /// The entries of France Travail's queue of a région as they change: each new or changed entry (one
    /// that left too: `visible` false) within about a second of its event's commit. A FRANCE_TRAVAIL
    /// key follows its région; ADMINISTRATEUR and AUDITOR name one. The subscription is recorded in the
    /// access log.
    async fn france_travail_queue(
        &self,
        ctx: &Context<'_>,
        region: Option<String>,
    ) -> Result<impl Stream<Item = Result<EntreeFranceTravail, Error>>, Error> {
        let perimetre = match ctx.data::<Viewer>()?.france_travail(region.as_deref())? {
            Perimetre::Tout => return Err(bad_input("region", "nommez la région à suivre")),
            perimetre => perimetre,
        };
        let sujet = match &perimetre {
            Perimetre::Region(region) => region.clone(),
            Perimetre::Tout => String::new(),
        };
        let fetch: Fetch<EntreeFranceTravail> = Arc::new(move |pool, after, jour| {
            let perimetre = perimetre.clone();
            Box::pin(async move {
                let lignes = ft_query::changees(&mut *pool.acquire().await?, &perimetre, after, jour).await?;
                Ok(lignes.into_iter().map(|ligne| EntreeFranceTravail { ligne, jour }).collect())
            })
        });
        suivre(ctx, ReadModel::FranceTravail, "franceTravailQueue", &sujet, fetch).await
    }

    /// The indicators of `indicateurs(date, groupBy, filtre)` now, then again each time they change
    /// (at most once a second). Without `date`, the day counted is today's, whatever the day.
    async fn indicateurs_changed(
        &self,
        ctx: &Context<'_>,
        date: Option<Date>,
        #[graphql(default_with = "Some(Dimension::National)")] group_by: Option<Dimension>,
        filtre: Option<IndicateursFiltre>,
    ) -> Result<impl Stream<Item = Result<Vec<IndicateursGroupe>, Error>>, Error> {
        let permit = ctx.data::<Permits>()?.take(ctx.data::<Viewer>()?)?;
        let pool = ctx.data::<PgPool>()?.clone();
        let dimension = group_by.unwrap_or(Dimension::National);
        let filtre = filtre.unwrap_or_default().parse()?;
        let filtre: Filtre = ctx
            .data::<Viewer>()?
            .perimetre(&pool)
            .await?
            .restrict(filtre, dimension == Dimension::National)?;
        let state =
            Watch { pool, date: date.map(|d| d.0), dimension, filtre, seen: None, last: None, first: true };
        Ok(holding(
            permit,
            stream::unfold(state, |mut watch| async move {
                loop {
                    if !watch.first {
                        tokio::time::sleep(THROTTLE).await;
                    }
                    watch.first = false;
                    match watch.changed().await {
                        Ok(Some(groupes)) => return Some((Ok(groupes), watch)),
                        Ok(None) => continue,
                        Err(error) => return Some((Err(internal(error)), watch)),
                    }
                }
            }),
        ))
    }
}

/// One `indicateursChanged` subscription: what it counts, and what it last sent.
struct Watch {
    pool: PgPool,
    date: Option<chrono::NaiveDate>,
    dimension: Dimension,
    filtre: Filtre,
    /// The read model's position and the day counted when last computed.
    seen: Option<(i64, chrono::NaiveDate)>,
    last: Option<Vec<indicateurs::Groupe>>,
    first: bool,
}

impl Watch {
    /// The indicators if they differ from those last sent (computed only when the read model moved,
    /// or the day counted did).
    async fn changed(&mut self) -> Result<Option<Vec<IndicateursGroupe>>, sqlx::Error> {
        let date = self.date.unwrap_or_else(|| Utc::now().date_naive());
        let mut conn = self.pool.acquire().await?;
        let position =
            crate::read_models::position(&mut conn, crate::read_models::ReadModel::Dossiers).await?;
        if self.seen == Some((position, date)) {
            return Ok(None);
        }
        self.seen = Some((position, date));
        let groupes =
            indicateurs::indicateurs(&mut conn, date, self.dimension.domain(), &self.filtre).await?;
        if self.last.as_ref() == Some(&groupes) {
            return Ok(None);
        }
        self.last = Some(groupes.clone());
        Ok(Some(groupes.into_iter().map(Into::into).collect()))
    }
}
