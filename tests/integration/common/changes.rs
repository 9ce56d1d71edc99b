//! Changes to a demo log that move every indicator: dossiers amended in what their status and
//! dimensions depend on, an organisme formateur moved to another département, and the filters that
//! reach every cube and the dossiers themselves.

use chrono::{Datelike, NaiveDate};
use projections::indicateurs::{Filtre, Tranche};
use serde_json::{Value, json};

/// Change what the status or the dimensions depend on in a third of the dossiers each: the birth date
/// (an identity correction), the année de formation (and some formations' names), an exclusion or a
/// rupture (new, or corrected).
pub fn amend(item: &mut Value, i: usize, today: NaiveDate) {
    let date = |name: &str, item: &Value| item[name].as_str().map(|d| d.parse::<NaiveDate>().unwrap());
    match i % 3 {
        0 => {
            let naissance = date("date_de_naissance_apprenant", item).unwrap();
            item["date_de_naissance_apprenant"] =
                json!(naissance.with_year(naissance.year() - 3).unwrap_or(naissance));
        }
        1 => {
            let annee = item["annee_formation"].as_i64().unwrap();
            item["annee_formation"] = json!(if annee == 1 { 2 } else { 1 });
            if let Some(libelle) = item["libelle_court_formation"].as_str().filter(|_| i.is_multiple_of(4)) {
                item["libelle_court_formation"] = json!(format!("{libelle} (nouveau libellé)"));
            }
        }
        _ => {
            // A new exclusion, or one sent with another date (a correction of the one recorded);
            // a rupture sent with another date too.
            let week = chrono::Duration::days(7);
            let exclusion = date("date_exclusion_formation", item)
                .map(|known| known + week)
                .unwrap_or_else(|| date("date_entree_formation", item).unwrap() + chrono::Duration::days(60));
            if exclusion <= today {
                item["date_exclusion_formation"] = json!(exclusion);
                item["cause_exclusion_formation"] = json!("Démission");
            }
            if let Some(rupture) =
                date("contrat_date_rupture", item).map(|r| r + week).filter(|r| *r <= today)
            {
                item["contrat_date_rupture"] = json!(rupture);
            }
        }
    }
}

/// Amend every other dossier (`amend`); returns the amended ones, to push again.
pub fn amend_half(items: &mut [Value], today: NaiveDate) -> Vec<Value> {
    items
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(i, item)| {
            amend(item, i, today);
            item.clone()
        })
        .collect()
}

/// An organisme key (`UAI:SIRET`), a formation and a région of one of the dossiers of organisme
/// formateur `uai`, to filter by.
pub async fn exemple(pool: &sqlx::PgPool, uai: &str) -> (String, String, String) {
    sqlx::query_as(
        "SELECT uai_formateur || ':' || siret_formateur, formation, region FROM rm_dossiers WHERE uai_formateur = $1 LIMIT 1",
    )
    .bind(uai)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The organismes referential with the first formateur moved to another département.
pub fn moved(csv: &str, uai: &str) -> String {
    csv.lines()
        .map(|line| {
            let mut fields: Vec<String> = line.split(',').map(str::to_owned).collect();
            if fields[0] == uai {
                fields[5] = if fields[5] == "2A" { "13".into() } else { "2A".into() };
                fields[3] = String::new();
                fields[4] = String::new();
            }
            fields.join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn filtres(organisme: &str, formation: &str, region: &str) -> Vec<Filtre> {
    vec![
        Filtre::default(),
        Filtre { regions: vec![region.into()], ..Filtre::default() },
        Filtre { tranches: vec![Tranche::Moins18], ..Filtre::default() },
        Filtre { niveaux: vec![3, 4], annees_formation: vec![1], ..Filtre::default() },
        Filtre { organismes: vec![organisme.into()], ..Filtre::default() },
        Filtre { formations: vec![formation.into()], tranches: vec![Tranche::De18a20], ..Filtre::default() },
        Filtre {
            regions: vec![region.into()],
            tranches: vec![Tranche::De21a25, Tranche::Plus26],
            ..Filtre::default()
        },
    ]
}
