//! `differenceIndicateurs`: for auditors, what changed in the indicators of one day between two
//! knowledge times, and which dossiers changed them through which events (the "late data" that makes
//! published figures move).

use async_graphql::{Context, Error, ID, Object, SimpleObject};
use events::EventStore;
use events::dossier::event::Correction;
use projections::dossiers::DossiersProjection;
use sqlx::PgPool;

use super::error::{OrInternal, bad_input};
use super::indicateurs::{IndicateursFiltre, IndicateursGroupe, connus};
use super::types::{Date, DateTime, Dimension, Statut};
use crate::auth::Role;
use crate::auth::viewer::Viewer;

/// The most dossiers listed.
const MAX_DOSSIERS: i32 = 500;
/// The most dossiers touched between the two instants that are looked at.
const MAX_TOUCHED: i64 = 20_000;

/// One event between the two instants.
#[derive(Debug, SimpleObject)]
pub struct EvenementConnu {
    /// Its log position.
    pub position: i64,
    /// Its type (`RuptureEnregistree`, …).
    #[graphql(name = "type")]
    pub event_type: String,
    /// When the log learned it.
    pub connu_le: DateTime,
    /// For a correction: the position of the event it voids (an earlier rupture or exclusion the ERP
    /// sent otherwise since), so that a correction is told apart from a second fact.
    pub corrige: Option<i64>,
    /// For a correction: why (what changed, and the channel and transmission that changed it).
    pub raison: Option<String>,
}

/// A dossier counted otherwise on the day after the events recorded between the two instants.
#[derive(Debug, SimpleObject)]
pub struct DossierChange {
    /// The dossier's id (its stream).
    pub dossier: ID,
    /// How it counted on the day as known at `connuAu1` (null: it did not count).
    pub statut_avant: Option<Statut>,
    /// How it counts as known at `connuAu2`.
    pub statut_apres: Option<Statut>,
    /// Its events recorded between the two instants.
    pub evenements: Vec<EvenementConnu>,
}

/// The indicators of one day as known at two instants, and the dossiers that account for the
/// difference.
#[derive(Debug, SimpleObject)]
pub struct DifferenceIndicateurs {
    /// The log position the first answer is as of.
    pub position_avant: i64,
    /// The log position the second answer is as of.
    pub position_apres: i64,
    /// The indicators as known at `connuAu1`.
    pub avant: Vec<IndicateursGroupe>,
    /// The indicators as known at `connuAu2`.
    pub apres: Vec<IndicateursGroupe>,
    /// The dossiers counted otherwise (at most `first`), in the order their first event was recorded.
    pub dossiers: Vec<DossierChange>,
    /// More dossiers changed than listed (or than could be looked at).
    pub tronque: bool,
}

#[derive(Default)]
pub struct ConnuQuery;

#[Object]
impl ConnuQuery {
    /// The indicators of `date` as known at `connuAu1` and at `connuAu2`, and the dossiers whose
    /// events recorded in between change how they count that day (AUDITOR, ADMINISTRATEUR).
    #[allow(clippy::too_many_arguments)]
    async fn difference_indicateurs(
        &self,
        ctx: &Context<'_>,
        date: Date,
        connu_au1: DateTime,
        connu_au2: DateTime,
        #[graphql(default_with = "Some(Dimension::National)")] group_by: Option<Dimension>,
        filtre: Option<IndicateursFiltre>,
        #[graphql(default = 100)] first: i32,
    ) -> Result<DifferenceIndicateurs, Error> {
        ctx.data::<Viewer>()?.require(&[Role::Auditor, Role::Administrateur], "comparer des indicateurs")?;
        if !(1..=MAX_DOSSIERS).contains(&first) {
            return Err(bad_input("first", format!("entre 1 et {MAX_DOSSIERS}")));
        }
        if connu_au2.0 < connu_au1.0 {
            return Err(bad_input("connuAu2", "après connuAu1"));
        }
        let pool = ctx.data::<PgPool>()?;
        let dimension = group_by.unwrap_or(Dimension::National).domain();
        let filtre = filtre.unwrap_or_default().parse()?;
        let (p1, avant) = connus(pool, connu_au1.0, date.0, dimension, &filtre).await?;
        let (p2, apres) = connus(pool, connu_au2.0, date.0, dimension, &filtre).await?;
        let streams: Vec<String> = sqlx::query_scalar!(
            r#"SELECT stream_id AS "stream!" FROM events WHERE category = 'dossier' AND position > $1 AND position <= $2
               GROUP BY stream_id ORDER BY min(position) LIMIT $3"#,
            p1,
            p2,
            MAX_TOUCHED + 1
        )
        .fetch_all(pool)
        .await
        .or_internal()?;
        let mut tronque = streams.len() as i64 > MAX_TOUCHED;
        let store = ctx.data::<EventStore>()?;
        let projection = DossiersProjection::default();
        let mut dossiers = Vec::new();
        for chunk in streams.chunks(500).take((MAX_TOUCHED / 500) as usize) {
            let logged = store.read_streams(chunk).await.or_internal()?;
            for stream in chunk {
                let events: Vec<&events::RecordedEvent> =
                    logged.get(stream).into_iter().flatten().filter(|e| e.position <= p2).collect();
                let before: Vec<&events::RecordedEvent> =
                    events.iter().copied().filter(|e| e.position <= p1).collect();
                let counted = |events: &[&events::RecordedEvent]| -> Result<Option<Statut>, Error> {
                    Ok(projection
                        .comptage(stream, events)
                        .or_internal()?
                        .and_then(|c| c.statut_compte(date.0))
                        .map(Into::into))
                };
                let (statut_avant, statut_apres) = (counted(&before)?, counted(&events)?);
                if statut_avant == statut_apres {
                    continue;
                }
                if dossiers.len() == first as usize {
                    tronque = true;
                    break;
                }
                dossiers.push(DossierChange {
                    dossier: ID(stream.clone()),
                    statut_avant,
                    statut_apres,
                    evenements: events
                        .iter()
                        .filter(|e| e.position > p1)
                        .map(|e| {
                            let correction = Correction::of(e);
                            EvenementConnu {
                                position: e.position,
                                event_type: e.event_type.clone(),
                                connu_le: DateTime(e.recorded_at),
                                corrige: correction.as_ref().and_then(|c| {
                                    events.iter().find(|v| v.event_id == c.corrige).map(|v| v.position)
                                }),
                                raison: correction.map(|c| c.raison),
                            }
                        })
                        .collect(),
                });
            }
        }
        Ok(DifferenceIndicateurs {
            position_avant: p1,
            position_apres: p2,
            avant: avant.into_iter().map(Into::into).collect(),
            apres: apres.into_iter().map(Into::into).collect(),
            dossiers,
            tronque,
        })
    }
}
