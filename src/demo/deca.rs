//! The demo's DECA extract (domain.md §13): the contracts of the learners of the organismes that never
//! push, in the format of `tba deca import` (`ingestion::deca`).

use serde_json::Value;

use super::Demo;

impl Demo {
    /// The extract: one row per learner under contract of a silent organisme (its first contract).
    pub fn deca_csv(&self) -> String {
        let mut csv = crate::ingestion::deca::COLUMNS.join(",");
        csv.push('\n');
        let text =
            |item: &Value, field: &str| item[field].as_str().unwrap_or_default().replace(['"', ','], " ");
        for item in &self.deca {
            if item["contrat_date_debut"].is_null() {
                continue;
            }
            let numero = format!("DECA-{}", text(item, "id_erp_apprenant"));
            let fin = match text(item, "contrat_date_fin") {
                fin if fin.is_empty() => text(item, "date_fin_formation"),
                fin => fin,
            };
            let row = [
                numero,
                text(item, "siret_employeur"),
                "OPCO EP".to_owned(),
                text(item, "etablissement_formateur_uai"),
                text(item, "etablissement_formateur_siret"),
                text(item, "formation_cfd"),
                text(item, "formation_rncp"),
                text(item, "nom_apprenant"),
                text(item, "prenom_apprenant"),
                text(item, "date_de_naissance_apprenant"),
                text(item, "ine_apprenant"),
                text(item, "email_contact"),
                text(item, "tel_apprenant"),
                text(item, "adresse_apprenant"),
                text(item, "code_postal_apprenant"),
                text(item, "code_commune_insee_apprenant"),
                text(item, "contrat_date_debut"),
                fin,
                text(item, "contrat_date_rupture"),
                text(item, "cause_rupture_contrat"),
            ];
            csv.push_str(&row.join(","));
            csv.push('\n');
        }
        csv
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    #[test]
    fn the_extract_names_only_silent_organismes_and_is_valid() {
        let demo = super::super::generate(300, 3, NaiveDate::from_ymd_opt(2026, 11, 23).expect("a day"));
        let contracts = crate::ingestion::deca::parse_csv(demo.deca_csv().as_bytes())
            .unwrap_or_else(|e| panic!("{:?}", &e[..e.len().min(3)]));
        assert!(contracts.len() >= 10, "{} contracts", contracts.len());
        let silent: Vec<&str> = demo
            .organismes
            .iter()
            .rev()
            .take(super::super::generate::SILENCIEUX)
            .map(|o| o.uai.as_str())
            .collect();
        assert!(contracts.iter().all(|c| silent.contains(&c.contrat.organisme.uai.as_str())));
        let pushed =
            demo.dossiers.iter().map(|(_, i)| i["etablissement_formateur_uai"].as_str().unwrap_or(""));
        assert!(pushed.into_iter().all(|uai| !silent.contains(&uai)), "they never push");
        assert!(demo.organismes_csv().contains(silent[0]), "they are in the referential");
    }
}
