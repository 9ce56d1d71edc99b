//! `tba formations import FILE.csv`: the formations referential (domain.md §12), header
//! `cfd,rncp,libelle,niveau,codes_rome` (`codes_rome` separated by spaces, `|` or `;`; `niveau` 3 to 8
//! or empty; `rncp` optional). Every row is checked before anything is written; then, in one
//! transaction, each new or changed formation gets a `FormationEnregistree` event on its stream. A
//! formation the file no longer lists keeps its last entry (a referential is not withdrawn by omission).
//! Re-importing the same file writes nothing.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;

use chrono::Utc;
use events::domain::{Cfd, Rncp};
use events::formation::{FORMATION_ENREGISTREE, Formation, code_rome};
use events::limits::Texte;
use events::store::append_in_transaction;
use events::{AppendRequest, ExpectedVersion, Metadata, NewEvent};
use sqlx::PgPool;

use super::organismes::ImportReport;
use super::referential::{RowError, optional};

/// The most ROME codes one formation lists (a real one lists a handful).
const MAX_CODES_ROME: usize = 50;

pub const COLUMNS: [&str; 5] = ["cfd", "rncp", "libelle", "niveau", "codes_rome"];

/// Read and check the whole file; any refused value refuses the file.
pub fn parse_csv(input: impl Read) -> Result<Vec<Formation>, Vec<RowError>> {
    let (sheet, mut errors) = super::referential::read(input, &COLUMNS)?;
    let mut formations = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for row in sheet.rows() {
        let line = row.line;
        let before = errors.len();
        let cfd = Cfd::parse(row.get("cfd"))
            .map_err(|e| errors.push(RowError::new(line, "cfd", e.to_string())))
            .ok();
        if let Some(cfd) = &cfd
            && let Some(first) = seen.insert(cfd.to_string(), line)
        {
            errors.push(RowError::new(line, "cfd", format!("{cfd} already on line {first}")));
        }
        let rncp = optional(row.get("rncp"), Rncp::parse)
            .map_err(|e| errors.push(RowError::new(line, "rncp", e)))
            .ok();
        let libelle = row.get("libelle").to_owned();
        if libelle.is_empty() {
            errors.push(RowError::new(line, "libelle", "must not be empty"));
        } else if let Err(invalid) = Texte::Libelle.check(&libelle) {
            errors.push(RowError::new(line, "libelle", invalid.to_string()));
        }
        let niveau = match row.get("niveau") {
            "" => None,
            text => match text.parse::<u8>() {
                Ok(n) if (3..=8).contains(&n) => Some(n),
                _ => {
                    errors.push(RowError::new(
                        line,
                        "niveau",
                        format!("{text:?}: a niveau from 3 to 8, or empty"),
                    ));
                    None
                }
            },
        };
        let mut codes_rome = BTreeSet::new();
        let codes: Vec<&str> =
            row.get("codes_rome").split([' ', '|', ';']).filter(|c| !c.is_empty()).collect();
        if codes.len() > MAX_CODES_ROME {
            errors.push(RowError::new(line, "codes_rome", format!("at most {MAX_CODES_ROME} ROME codes")));
        }
        for code in codes.into_iter().take(MAX_CODES_ROME) {
            match code_rome(code) {
                Ok(code) => {
                    codes_rome.insert(code);
                }
                Err(why) => errors.push(RowError::new(line, "codes_rome", why)),
            }
        }
        if let (true, Some(cfd), Some(rncp)) = (errors.len() == before, cfd, rncp) {
            formations.push(Formation { cfd, rncp, libelle, niveau, codes_rome });
        }
    }
    if errors.is_empty() { Ok(formations) } else { Err(errors) }
}

#[derive(Debug, thiserror::Error)]
pub enum FormationsImportError {
    #[error(transparent)]
    Store(#[from] events::StoreError),
    #[error("the log refused a formation: {0}")]
    Append(#[from] events::AppendError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Record the new and changed formations, all in one transaction.
pub async fn import(
    pool: &PgPool,
    formations: Vec<Formation>,
    metadata: Metadata,
) -> Result<ImportReport, FormationsImportError> {
    let mut tx = pool.begin().await?;
    // Serialise imports: two at once would both see a formation as new.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('formations import'))").execute(&mut *tx).await?;
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT ON (stream_id) data::text FROM events
         WHERE category = 'formation' AND event_type = $1 ORDER BY stream_id, version DESC",
    )
    .bind(FORMATION_ENREGISTREE)
    .fetch_all(&mut *tx)
    .await?;
    let known: HashMap<String, Formation> = stored
        .iter()
        .filter_map(|data| serde_json::from_str::<Formation>(data).ok())
        .map(|f| (f.cfd.to_string(), f))
        .collect();
    let mut report = ImportReport { read: formations.len(), ..ImportReport::default() };
    let mut changed = Vec::new();
    for formation in formations {
        match known.get(formation.cfd.as_str()) {
            Some(same) if *same == formation => report.unchanged += 1,
            Some(_) => {
                report.changed += 1;
                changed.push(formation);
            }
            None => {
                report.created += 1;
                changed.push(formation);
            }
        }
    }
    if changed.is_empty() {
        return Ok(report);
    }
    let today = Utc::now().date_naive();
    let requests = changed
        .iter()
        .map(|f| {
            let data = serde_json::to_value(f).expect("formations serialise to JSON");
            let event =
                NewEvent::new(FORMATION_ENREGISTREE, data).occurred_at(today).with_metadata(metadata.clone());
            AppendRequest::new(f.stream_id(), ExpectedVersion::Any, vec![event])
        })
        .collect();
    for result in append_in_transaction(&mut tx, None, requests).await? {
        result?;
    }
    tx.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "cfd,rncp,libelle,niveau,codes_rome\n";

    #[test]
    fn a_file_is_read_whole_and_refused_with_every_wrong_value_named() {
        let good = format!(
            "{HEADER}50022137,RNCP37870,CAP CUISINE,3,G1602 G1603\n32031213,,BTS MCO,5,D1401|D1502\n"
        );
        let formations = parse_csv(good.as_bytes()).expect("valid");
        assert_eq!(formations.len(), 2);
        assert_eq!(formations[1].secteurs(), ['D'].into());
        assert_eq!((formations[1].rncp.clone(), formations[1].niveau), (None, Some(5)));
        let bad = format!("{HEADER}5002213,RNCP37870,CAP,9,G1602 Z0001\n50022137,,,3,\n50022137,,X,,\n");
        let errors = parse_csv(bad.as_bytes()).expect_err("refused");
        let fields: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(fields, [(2, "cfd"), (2, "niveau"), (2, "codes_rome"), (3, "libelle"), (4, "cfd")]);
        let many = format!("{HEADER}50022137,,CAP,3,{}\n", vec!["D1106"; 51].join(" "));
        let errors = parse_csv(many.as_bytes()).expect_err("too many codes");
        assert_eq!(errors[0].field, "codes_rome");
    }
}
