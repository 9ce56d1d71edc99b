//! The candidates whose vœux did not turn into an apprenticeship (domain.md §8), as every adapter
//! reads them (GraphQL's `voeuxNonConcretises`, the console's list and export): who may read which
//! académies, a page of them, each page recorded in the access journal.

use chrono::NaiveDate;
use events::domain::territoire::academie_nom;
use projections::voeux::query::{self, Campagne, NonConcretise};
use sqlx::PgPool;

use crate::auth::access_log;
use crate::auth::viewer::{AccessError, Viewer};

/// Which page: at most `first` candidates after `after`.
pub struct Page<'a> {
    pub first: i64,
    pub after: Option<&'a str>,
}

/// A page of the candidates "non concrétisés" of `campagne` with a vœu in the académies `asked`
/// (within the caller's: ACADEMIE and DREETS keys their territory's, ADMINISTRATEUR and AUDITOR any)
/// after `after`, at most `first`; and whether more follow. The page is recorded in the access journal.
pub async fn non_concretises(
    pool: &PgPool,
    journal: &access_log::Journal,
    viewer: &Viewer,
    campagne: Campagne,
    asked: &[String],
    date: NaiveDate,
    Page { first, after }: Page<'_>,
) -> Result<(Vec<NonConcretise>, bool), AccessError> {
    if let Some(unknown) = asked.iter().find(|a| academie_nom(a).is_none()) {
        return Err(AccessError::BadInput {
            field: "academies".into(),
            message: format!("{unknown:?} est inconnue"),
        });
    }
    let academies = viewer.voeux_academies(asked)?;
    let mut conn = pool.acquire().await?;
    let (page, more) = query::non_concretises(&mut conn, campagne, &academies, date, first, after).await?;
    drop(conn);
    let ids: Vec<&str> = page.iter().map(|c| c.candidat.as_str()).collect();
    let subject = format!(
        "{} {} {}",
        campagne.source,
        campagne.rentree,
        if academies.is_empty() { "toutes académies".to_owned() } else { academies.join(",") }
    );
    let details = serde_json::json!({ "candidats": ids, "after": after });
    journal.record(viewer.principal()?, "voeux_non_concretises", &subject, details).await?;
    Ok((page, more))
}
