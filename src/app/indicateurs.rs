//! The counts "à date" as every adapter asks them (GraphQL's `indicateurs`, the console's dashboard).
//! An answer depends only on the question and on the read model, which only changes when its
//! checkpoint moves: answers are kept in memory per question for the current checkpoint position, so
//! that the same question asked again, by anyone, costs one indexed read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use projections::indicateurs::{self, Dimension, Filtre, Groupe};
use sqlx::{Connection, PgPool};

/// Answers kept at most, all questions together (the map is emptied when full, and whenever the
/// read model moves).
const CACHE_ENTRIES: usize = 10_000;

/// A question: the day, the grouping, the filter (the caller's perimeter in it).
type Question = (NaiveDate, Dimension, Filtre);

/// Answers of the read model projected up to `position`.
#[derive(Default)]
struct Answers {
    position: i64,
    by_question: HashMap<Question, Arc<Vec<Groupe>>>,
}

/// The answers of the read model at one checkpoint position, by question.
#[derive(Default)]
pub struct IndicateursCache {
    state: Mutex<Answers>,
}

impl IndicateursCache {
    /// The indicators at `date`, from memory when the read model has not moved since they were
    /// counted (one indexed read: the position). A new answer is counted in one snapshot with the
    /// position it is kept under.
    pub async fn indicateurs(
        &self,
        pool: &PgPool,
        date: NaiveDate,
        dimension: Dimension,
        filtre: &Filtre,
    ) -> Result<Arc<Vec<Groupe>>, sqlx::Error> {
        Ok(self.au(pool, (date, dimension, filtre.clone())).await?.1)
    }

    /// The answers to several questions, all of the read model at one position (asked again while it
    /// moves in between; counted in one snapshot, without memory, if it keeps moving).
    pub async fn ensemble(
        &self,
        pool: &PgPool,
        questions: &[(NaiveDate, Dimension, &Filtre)],
    ) -> Result<Vec<Arc<Vec<Groupe>>>, sqlx::Error> {
        for _ in 0..3 {
            let mut answers = Vec::with_capacity(questions.len());
            for (date, dimension, filtre) in questions {
                answers.push(self.au(pool, (*date, *dimension, (*filtre).clone())).await?);
            }
            if answers.windows(2).all(|w| w[0].0 == w[1].0) {
                return Ok(answers.into_iter().map(|(_, groupes)| groupes).collect());
            }
        }
        let mut conn = pool.acquire().await?;
        let mut tx = conn.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        let mut answers = Vec::with_capacity(questions.len());
        for (date, dimension, filtre) in questions {
            answers.push(Arc::new(indicateurs::indicateurs(&mut tx, *date, *dimension, filtre).await?));
        }
        tx.commit().await?;
        Ok(answers)
    }

    /// The answer to `key`, with the read model's position it is of.
    async fn au(&self, pool: &PgPool, key: Question) -> Result<(i64, Arc<Vec<Groupe>>), sqlx::Error> {
        let (date, dimension, ref filtre) = key;
        let mut conn = pool.acquire().await?;
        let now = crate::read_models::position(&mut conn, crate::read_models::ReadModel::Dossiers).await?;
        let hit = {
            let state = self.state.lock().expect("the cache lock is never poisoned");
            if state.position == now { state.by_question.get(&key).cloned() } else { None }
        };
        if let Some(groupes) = hit {
            return Ok((now, groupes));
        }
        let mut tx = conn.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        let position = crate::read_models::position(&mut tx, crate::read_models::ReadModel::Dossiers).await?;
        let groupes = Arc::new(indicateurs::indicateurs(&mut tx, date, dimension, filtre).await?);
        tx.commit().await?;
        let mut state = self.state.lock().expect("the cache lock is never poisoned");
        if state.position < position || state.by_question.len() >= CACHE_ENTRIES {
            *state = Answers { position, by_question: HashMap::new() };
        }
        if state.position == position {
            state.by_question.insert(key.clone(), groupes.clone());
        }
        Ok((position, groupes))
    }
}
