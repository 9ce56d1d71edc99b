//! The réseaux of organismes (`tba reseaux import FILE.csv`): header `reseau,nom,organismes`, with
//! `organismes` a space-separated list of `UAI:SIRET`. Every row is checked, and every organisme must
//! be in the referential, before anything is written; then, in one transaction, each réseau named gets
//! its name and exactly the members listed. A TETE_DE_RESEAU key's perimeter is its réseau's members
//! (`auth::reseaux`).

use std::collections::{BTreeSet, HashMap};
use std::io::Read;

use sqlx::PgPool;

use events::domain::OrganismeRef;

use super::referential::RowError;

const COLUMNS: [&str; 3] = ["reseau", "nom", "organismes"];

/// A réseau and its organismes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reseau {
    pub id: String,
    pub nom: String,
    /// Its organismes, `UAI:SIRET`.
    pub organismes: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReseauxImportError {
    #[error("{} refused value(s)", .0.len())]
    Invalid(Vec<RowError>),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Read and check the whole file; any refused row refuses the file.
pub fn parse_csv(input: impl Read) -> Result<Vec<Reseau>, Vec<RowError>> {
    let (sheet, mut errors) = super::referential::read(input, &COLUMNS)?;
    let mut reseaux = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for row in sheet.rows() {
        let line = row.line;
        let get = |column: &str| row.get(column).to_owned();
        let (id, nom) = (get("reseau"), get("nom"));
        let before = errors.len();
        if id.is_empty() {
            errors.push(RowError::new(line, "reseau", "must not be empty"));
        } else if let Some(first) = seen.insert(id.clone(), line) {
            errors.push(RowError::new(line, "reseau", format!("{id} already on line {first}")));
        }
        if nom.is_empty() {
            errors.push(RowError::new(line, "nom", "must not be empty"));
        }
        let mut organismes = BTreeSet::new();
        for member in get("organismes").split_whitespace() {
            match member.parse::<OrganismeRef>() {
                Ok(o) => {
                    organismes.insert(o.to_string());
                }
                Err(message) => {
                    errors.push(RowError::new(line, "organismes", format!("{member:?}: {message}")))
                }
            }
        }
        if organismes.is_empty() && errors.len() == before {
            errors.push(RowError::new(line, "organismes", "at least one UAI:SIRET"));
        }
        if errors.len() == before {
            reseaux.push(Reseau { id, nom, organismes });
        }
    }
    if errors.is_empty() { Ok(reseaux) } else { Err(errors) }
}

/// Write the réseaux, all or nothing: an organisme missing from the referential refuses the import.
pub async fn import(pool: &PgPool, reseaux: &[Reseau]) -> Result<usize, ReseauxImportError> {
    let mut tx = pool.begin().await?;
    let members: Vec<&str> = reseaux.iter().flat_map(|r| r.organismes.iter().map(String::as_str)).collect();
    let unknown: Vec<String> = sqlx::query_scalar!(
        r#"SELECT m AS "m!" FROM unnest($1::text[]) AS m
           WHERE NOT EXISTS (SELECT 1 FROM organismes o WHERE o.uai || ':' || o.siret = m)"#,
        &members as &[&str],
    )
    .fetch_all(&mut *tx)
    .await?;
    if !unknown.is_empty() {
        let errors = reseaux
            .iter()
            .flat_map(|r| r.organismes.iter().filter(|o| unknown.contains(o)).map(move |o| (r, o)))
            .map(|(r, o)| RowError {
                line: 0,
                field: "organismes".into(),
                message: format!("réseau {}: {o} is not in the organismes referential", r.id),
            })
            .collect();
        return Err(ReseauxImportError::Invalid(errors));
    }
    for reseau in reseaux {
        sqlx::query!(
            "INSERT INTO reseaux (id, nom) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET nom = excluded.nom, updated_at = now()",
            reseau.id,
            reseau.nom,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!("DELETE FROM reseau_organismes WHERE reseau = $1", reseau.id).execute(&mut *tx).await?;
        let (uais, sirets): (Vec<&str>, Vec<&str>) =
            reseau.organismes.iter().filter_map(|o| o.split_once(':')).unzip();
        sqlx::query!(
            "INSERT INTO reseau_organismes (reseau, uai, siret)
             SELECT $1, * FROM unnest($2::text[], $3::text[])",
            reseau.id,
            &uais as &[&str],
            &sirets as &[&str],
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(reseaux.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_whole_or_refused_with_its_lines_and_fields() {
        let good = "reseau,nom,organismes\nCMA,Chambres de métiers,0693456K:12345678901234 0751234A:98765432100017\n";
        let reseaux = parse_csv(good.as_bytes()).expect("valid");
        assert_eq!(reseaux[0].organismes.len(), 2);
        let bad = "reseau,nom,organismes\nCMA,,0693456K\nCMA,Bis,\n";
        let errors = parse_csv(bad.as_bytes()).expect_err("refused");
        let fields: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(fields, [(2, "nom"), (2, "organismes"), (3, "reseau")]);
        assert!(parse_csv("reseau,nom\n".as_bytes()).is_err(), "a missing column refuses the file");
    }
}
