//! The knowledge-time history of the département cube (migration `…17_indicateurs_connus`): what each
//! event of the log changed in it, per cell and day. The live batches and the one-pass build write the
//! same rows, because both fold each dossier event by event: a dossier's contribution after each of its
//! events, minus its contribution before, at that event's position. Summing the rows up to a position
//! gives the cube as the log knew it then, whatever the batches were.

use std::sync::Arc;

use chrono::NaiveDate;
use rustc_hash::FxHashMap;
use sqlx::PgConnection;

use super::cubes::Comptage;
use super::segments::{fenetre, segments};
use crate::copy::CopyRows;
use crate::status::Statut;

/// One cell of the département cube on one day, at one log position.
type Key = (i64, Arc<str>, NaiveDate, Statut, Arc<str>, Arc<str>, Arc<str>);

/// Net changes per position, cell and day.
#[derive(Default)]
pub struct Historique {
    changes: FxHashMap<Key, i32>,
}

impl Historique {
    /// Add (`sign` = 1) or take back (−1) what `comptage` contributes to the département cube, as a
    /// change made by the event at `position`.
    pub fn add(&mut self, position: i64, comptage: &Comptage, sign: i32) {
        let segments = segments(&comptage.annee_scolaire, comptage.naissance, &comptage.parcours);
        if segments.is_empty() {
            return;
        }
        let annee: Arc<str> = comptage.annee_scolaire.as_str().into();
        let last = fenetre(&comptage.annee_scolaire).1;
        let d = &comptage.dims;
        let key = |jour, statut| {
            (
                position,
                annee.clone(),
                jour,
                statut,
                d.departement.clone(),
                d.region.clone(),
                d.academie.clone(),
            )
        };
        for segment in &segments {
            if segment.fin <= last {
                *self.changes.entry(key(segment.fin, segment.statut)).or_default() -= sign;
            }
            *self.changes.entry(key(segment.debut, segment.statut)).or_default() += sign;
        }
    }

    /// A dossier's contributions after each of its events (`(position, contribution)` in position
    /// order, `None` while it has none), starting from `before`: the change each event made.
    pub fn add_steps<'c>(
        &mut self,
        before: Option<&'c Comptage>,
        steps: impl IntoIterator<Item = (i64, Option<&'c Comptage>)>,
    ) {
        let mut previous = before;
        for (position, now) in steps {
            if previous == now {
                continue;
            }
            if let Some(old) = previous {
                self.add(position, old, -1);
            }
            if let Some(new) = now {
                self.add(position, new, 1);
            }
            previous = now;
        }
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Append the rows to `rm_indicateurs_historique` (unqualified: the live table, or that of the schema
    /// first on the search path), and start afresh.
    pub async fn write(&mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        let mut copy = CopyRows::default();
        for ((position, annee, jour, statut, departement, region, academie), n) in self.changes.drain() {
            if n == 0 {
                continue;
            }
            copy.plain(position)
                .text(&annee)
                .plain(jour)
                .text(statut.as_str())
                .text(&departement)
                .text(&region)
                .text(&academie)
                .plain(n);
            copy.end_row();
        }
        copy.send(
            tx,
            "rm_indicateurs_historique",
            &["position", "annee_scolaire", "jour", "statut", "departement", "region", "academie", "n"],
        )
        .await
    }
}
