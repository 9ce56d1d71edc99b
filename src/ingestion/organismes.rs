//! `tba organismes import FILE.csv`: the organismes referential. Every row is checked before anything is
//! written; then, in one transaction, each new or changed organisme gets an `OrganismeEnregistre` event
//! and its lookup row. Re-importing the same file writes nothing.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use chrono::Utc;
use events::domain::{CodeInsee, CodePostal, Siret, Uai, territoire};
use events::limits::Texte;
use events::organisme::{self, Nature, Organisme};
use events::store::append_in_transaction;
use events::{AppendRequest, ExpectedVersion, Metadata, NewEvent};
use sqlx::PgPool;

const COLUMNS: [&str; 7] =
    ["uai", "siret", "nom", "code_commune_insee", "code_postal", "departement", "nature"];

pub use super::referential::RowError;
use super::referential::optional;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub read: usize,
    pub created: usize,
    pub changed: usize,
    pub unchanged: usize,
}

/// Read and check the whole file; any refused row refuses the file.
pub fn parse_csv(input: impl Read) -> Result<Vec<Organisme>, Vec<RowError>> {
    let (sheet, mut errors) = super::referential::read(input, &COLUMNS)?;
    let mut organismes = Vec::new();
    let mut seen = HashMap::new();
    for row in sheet.rows() {
        let (line, get) = (row.line, |column: &str| row.get(column));
        let mut check = Checker { line, errors: &mut errors };
        let uai = check.check("uai", Uai::parse(get("uai")).map_err(|e| e.to_string()));
        let siret = check.check("siret", Siret::parse(get("siret")).map_err(|e| e.to_string()));
        let nom = check.check(
            "nom",
            Some(get("nom").to_owned())
                .filter(|n| !n.is_empty())
                .ok_or("must not be empty".to_owned())
                .and_then(|n| Texte::Libelle.check(&n).map(|()| n).map_err(|e| e.to_string())),
        );
        let insee = check.check("code_commune_insee", optional(get("code_commune_insee"), CodeInsee::parse));
        let code_postal = check.check("code_postal", optional(get("code_postal"), CodePostal::parse));
        let departement = check.check(
            "departement",
            territoire::departement(get("departement"))
                .ok_or_else(|| format!("unknown département {:?}", get("departement"))),
        );
        let nature = check.check(
            "nature",
            Nature::parse(get("nature"))
                .ok_or("must be responsable, formateur, responsable_formateur or inconnue".to_owned()),
        );
        if let (Some(uai), Some(siret), Some(nom), Some(insee), Some(code_postal), Some(d), Some(nature)) =
            (uai, siret, nom, insee, code_postal, departement, nature)
        {
            if let Some(first) = seen.insert((uai.clone(), siret.clone()), line) {
                errors.push(RowError::new(line, "uai", format!("{uai}:{siret} already on line {first}")));
                continue;
            }
            organismes.push(Organisme {
                uai,
                siret,
                nom,
                code_commune_insee: insee,
                code_postal,
                departement: d.code.clone(),
                region: d.region.clone(),
                academie: d.academie.clone(),
                nature,
            });
        }
    }
    if errors.is_empty() { Ok(organismes) } else { Err(errors) }
}

/// Records the refusals of one row.
struct Checker<'a> {
    line: u64,
    errors: &'a mut Vec<RowError>,
}

impl Checker<'_> {
    fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|message| {
                self.errors.push(RowError { line: self.line, field: field.to_owned(), message })
            })
            .ok()
    }
}

/// Record the new and changed organismes, all in one transaction.
pub async fn import(
    pool: &PgPool,
    organismes: Vec<Organisme>,
    metadata: Metadata,
) -> anyhow::Result<ImportReport> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query!(
        "SELECT uai, siret, nom, code_commune_insee, code_postal, departement, region, academie, nature FROM organismes"
    )
    .fetch_all(&mut *tx)
    .await?;
    // Rows were checked on their way in; one that no longer parses is treated as unknown and rewritten.
    let known: HashMap<(String, String), Organisme> = rows
        .into_iter()
        .filter_map(|r| {
            let organisme = Organisme {
                uai: Uai::parse(&r.uai).ok()?,
                siret: Siret::parse(&r.siret).ok()?,
                nom: r.nom,
                code_commune_insee: r.code_commune_insee.and_then(|c| CodeInsee::parse(&c).ok()),
                code_postal: r.code_postal.and_then(|c| CodePostal::parse(&c).ok()),
                departement: r.departement,
                region: r.region,
                academie: r.academie,
                nature: Nature::parse(&r.nature)?,
            };
            Some(((r.uai, r.siret), organisme))
        })
        .collect();
    let mut report = ImportReport { read: organismes.len(), ..ImportReport::default() };
    let mut changed = Vec::new();
    for organisme in organismes {
        match known.get(&(organisme.uai.to_string(), organisme.siret.to_string())) {
            Some(same) if *same == organisme => report.unchanged += 1,
            Some(_) => {
                report.changed += 1;
                changed.push(organisme);
            }
            None => {
                report.created += 1;
                changed.push(organisme);
            }
        }
    }
    if changed.is_empty() {
        return Ok(report);
    }
    let today = Utc::now().date_naive();
    let requests = changed
        .iter()
        .map(|o| {
            let data = serde_json::to_value(o).expect("organismes serialise to JSON");
            let event = NewEvent::new(organisme::ORGANISME_ENREGISTRE, data)
                .occurred_at(today)
                .with_metadata(metadata.clone());
            AppendRequest::new(o.stream_id(), ExpectedVersion::Any, vec![event])
        })
        .collect();
    let mut positions = Vec::with_capacity(changed.len());
    for result in append_in_transaction(&mut tx, None, requests).await? {
        positions.push(result?.positions[0]);
    }
    let text = |f: fn(&Organisme) -> String| changed.iter().map(f).collect::<Vec<_>>();
    let optional = |f: fn(&Organisme) -> Option<String>| changed.iter().map(f).collect::<Vec<_>>();
    sqlx::query!(
        r#"INSERT INTO organismes (uai, siret, nom, code_commune_insee, code_postal, departement, region, academie,
                                  nature, updated_position)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                $8::text[], $9::text[], $10::bigint[])
           ON CONFLICT (uai, siret) DO UPDATE SET nom = excluded.nom, code_commune_insee = excluded.code_commune_insee,
               code_postal = excluded.code_postal, departement = excluded.departement, region = excluded.region,
               academie = excluded.academie, nature = excluded.nature, updated_position = excluded.updated_position"#,
        &text(|o| o.uai.to_string()),
        &text(|o| o.siret.to_string()),
        &text(|o| o.nom.clone()),
        &optional(|o| o.code_commune_insee.as_ref().map(ToString::to_string)) as &[Option<String>],
        &optional(|o| o.code_postal.as_ref().map(ToString::to_string)) as &[Option<String>],
        &text(|o| o.departement.clone()),
        &text(|o| o.region.clone()),
        &text(|o| o.academie.clone()),
        &text(|o| o.nature.as_str().to_owned()),
        &positions,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// The (uai, siret) pairs among those given that the referential knows.
pub async fn known(
    pool: &PgPool,
    uais: &[String],
    sirets: &[String],
) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT o.uai, o.siret FROM organismes o
           JOIN unnest($1::text[], $2::text[]) AS k(uai, siret) ON o.uai = k.uai AND o.siret = k.siret"#,
        uais,
        sirets
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.uai, r.siret)).collect())
}
