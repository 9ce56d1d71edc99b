//! Table tests of the v3 field rules (domain.md §3).

use serde_json::{Value, json};

use super::*;

fn valid() -> Value {
    json!({
        "nom_apprenant": " Martin ",
        "prenom_apprenant": "Léa",
        "date_de_naissance_apprenant": "2007-03-14T00:00:00.000Z",
        "annee_scolaire": "2025/2026",
        "id_erp_apprenant": 12345,
        "date_inscription_formation": "2025-08-28",
        "date_entree_formation": "2025-09-01",
        "date_fin_formation": "2027-06-30",
        "etablissement_responsable_uai": "0693455j",
        "etablissement_responsable_siret": "123 456 789 00012",
        "etablissement_formateur_uai": "0693456K",
        "etablissement_formateur_siret": "12345678901234",
    })
}

fn with(changes: Value) -> Value {
    let mut item = valid();
    for (field, value) in changes.as_object().expect("object") {
        item[field] = value.clone();
    }
    item
}

fn errors_of(item: &Value) -> Vec<String> {
    match parse(item) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| e.path).collect(),
    }
}

#[test]
fn a_minimal_dossier_is_accepted_and_normalised() {
    let dossier = parse(&valid()).expect("valid");
    assert_eq!(dossier.apprenant.nom, "MARTIN");
    assert_eq!(dossier.key.annee_scolaire.as_str(), "2025-2026");
    assert_eq!(dossier.key.id_erp_apprenant, "12345");
    assert_eq!(dossier.key.uai_formateur.as_str(), "0693456K");
    assert_eq!(dossier.responsable.uai.as_str(), "0693455J");
    assert_eq!(dossier.responsable.siret.as_str(), "12345678900012");
    assert_eq!(dossier.apprenant.date_de_naissance.to_string(), "2007-03-14");
    assert!(dossier.contrats.is_empty() && !dossier.apprenant.has_nir);
}

#[test]
fn optional_fields_are_normalised_as_the_erps_expect() {
    let dossier = parse(&with(json!({
        "tel_apprenant": "+33 6 12 34 56 78",
        "formation_rncp": "34825",
        "formation_cfd": "50025219",
        "code_postal_apprenant": "1000",
        "code_commune_insee_apprenant": "2a004",
        "sexe_apprenant": "H",
        "type_cfa": 1,
        "duree_theorique_formation": 2,
        "derniere_situation": 0,
        "nir_apprenant": "1070375123456",
        "ine_apprenant": "123456789ab",
        "rqth_apprenant": "true",
        "code_postal_de_naissance_apprenant": "99134",
        "email_contact": " Lea@Example.FR",
        "responsable_apprenant_mail1": "parent@example.fr",
        "dernier_organisme_uai": "69",
        "annee_formation": "1",
    })))
    .expect("valid");
    let a = &dossier.apprenant;
    assert_eq!(a.telephone.as_ref().map(Telephone::as_str), Some("0612345678"));
    assert_eq!(a.code_postal.as_ref().map(CodePostal::as_str), Some("01000"));
    assert_eq!(a.code_commune_insee.as_ref().map(CodeInsee::as_str), Some("2A004"));
    assert_eq!(a.sexe, Some(Sexe::M));
    assert_eq!(a.ine.as_ref().map(Ine::as_str), Some("123456789AB"));
    assert!(a.has_nir, "only the presence of a NIR is kept");
    assert_eq!(a.rqth, Some(true));
    assert_eq!(a.code_postal_de_naissance.as_deref(), Some("99134"));
    assert_eq!(a.email.as_ref().map(Email::as_str), Some("lea@example.fr"));
    assert_eq!(a.responsables_mails.len(), 1);
    assert_eq!(dossier.formation.rncp.as_ref().map(Rncp::as_str), Some("RNCP34825"));
    assert_eq!(dossier.formation.duree_theorique_mois, Some(24));
    assert_eq!(dossier.formation.annee_formation, Some(1));
    assert_eq!(dossier.type_cfa.as_deref(), Some("01"));
    assert_eq!(dossier.derniere_situation, None);
    assert_eq!(dossier.dernier_organisme_uai.as_deref(), Some("69"));
    let serialised = serde_json::to_string(&dossier).expect("serialises");
    assert!(!serialised.contains("1070375123456"), "the NIR is never stored");
}

#[test]
fn every_missing_required_field_is_named() {
    let mut item = valid();
    let required = REQUIRED_FIELDS;
    for field in required {
        item[field] = json!("  ");
    }
    let mut errors = errors_of(&item);
    errors.sort();
    let mut expected = required.map(String::from).to_vec();
    expected.sort();
    assert_eq!(errors, expected);
}

#[test]
fn each_invalid_value_is_an_error_on_its_field() {
    for (field, value) in [
        ("annee_scolaire", json!("2025-2027")),
        ("date_de_naissance_apprenant", json!("14/03/2007")),
        ("statut_apprenant", json!(1)),
        ("ine_apprenant", json!("12345")),
        ("email_contact", json!("lea@")),
        ("tel_apprenant", json!("0612")),
        ("code_postal_apprenant", json!("750011")),
        ("code_commune_insee_apprenant", json!("2C004")),
        ("sexe_apprenant", json!("X")),
        ("formation_rncp", json!("RNCP1")),
        ("formation_cfd", json!("123")),
        ("annee_formation", json!(6)),
        ("type_cfa", json!("11")),
        ("etablissement_formateur_uai", json!("069345K")),
        ("etablissement_responsable_siret", json!("1234")),
        ("dernier_organisme_uai", json!("ABC")),
        // Neither a département of the referential nor one of 990, 991, 993, 995.
        ("dernier_organisme_uai", json!("992")),
        ("dernier_organisme_uai", json!("00")),
        ("dernier_organisme_uai", json!("96")),
        ("rqth_apprenant", json!("peut-être")),
        ("nom_apprenant", json!({ "nom": "x" })),
    ] {
        assert_eq!(errors_of(&with(json!({ field: value }))), [field.to_owned()], "{field} = {value}");
    }
}

#[test]
fn the_last_organisme_is_a_uai_a_departement_or_a_code_of_the_spec() {
    for (sent, kept) in
        [("0693455j", "0693455J"), ("2a", "2A"), ("974", "974"), ("01", "01"), ("990", "990"), ("995", "995")]
    {
        let dossier = parse(&with(json!({ "dernier_organisme_uai": sent }))).expect("valid");
        assert_eq!(dossier.dernier_organisme_uai.as_deref(), Some(kept), "{sent}");
    }
}

#[test]
fn lenient_fields_drop_bad_values_silently() {
    let dossier = parse(&with(json!({
        "duree_theorique_formation_mois": 99,
        "duree_theorique_formation": 9,
        "code_postal_de_naissance_apprenant": "XX",
        "contrat_date_debut": "2025-09-15",
        "siret_employeur": "123",
        "tel_apprenant": "",
    })))
    .expect("valid");
    assert_eq!(dossier.formation.duree_theorique_mois, None);
    assert_eq!(dossier.apprenant.code_postal_de_naissance, None);
    assert_eq!(dossier.contrats[0].siret_employeur, None);
    assert_eq!(dossier.apprenant.telephone, None);
}

#[test]
fn up_to_four_contracts_are_read_and_orphan_contract_fields_are_refused() {
    let dossier = parse(&with(json!({
        "contrat_date_debut": "2025-09-15",
        "contrat_date_fin": "2026-06-30",
        "contrat_date_rupture": "2026-01-10",
        "cause_rupture_contrat": "démission",
        "siret_employeur": "98765432100018",
        "contrat_date_debut_4": "2026-02-01",
    })))
    .expect("valid");
    assert_eq!(dossier.contrats.len(), 2);
    assert_eq!(dossier.contrats[0].date_rupture.map(|d| d.to_string()).as_deref(), Some("2026-01-10"));
    assert_eq!(dossier.contrats[1].date_debut.to_string(), "2026-02-01");

    let mut errors = errors_of(&with(json!({ "contrat_date_fin_2": "2026-06-30" })));
    errors.sort();
    assert_eq!(errors, ["contrat_date_debut_2", "contrat_date_fin_2"]);
}

#[test]
fn two_contracts_starting_the_same_day_are_one_and_the_later_values_win() {
    let dossier = parse(&with(json!({
        "contrat_date_debut": "2025-09-15",
        "contrat_date_fin": "2026-06-30",
        "siret_employeur": "98765432100018",
        "contrat_date_debut_2": "2025-09-15",
        "contrat_date_fin_2": "2027-06-30",
        "contrat_date_rupture_2": "2026-01-10",
    })))
    .expect("valid");
    assert_eq!(dossier.contrats.len(), 1);
    let contrat = &dossier.contrats[0];
    assert_eq!(contrat.date_fin.map(|d| d.to_string()).as_deref(), Some("2027-06-30"));
    assert_eq!(contrat.date_rupture.map(|d| d.to_string()).as_deref(), Some("2026-01-10"));
    assert_eq!(contrat.siret_employeur.as_ref().map(|s| s.as_str()), Some("98765432100018"));
}

#[test]
fn the_session_must_not_end_before_it_starts() {
    let errors = errors_of(&with(json!({ "date_fin_formation": "2025-08-31" })));
    assert_eq!(errors, ["date_fin_formation"]);
}

#[test]
fn a_dated_status_zero_becomes_an_exclusion() {
    let dossier = parse(&with(json!({
        "statut_apprenant": "0",
        "date_metier_mise_a_jour_statut": "2026-03-02T10:00:00Z",
    })))
    .expect("valid");
    assert_eq!(dossier.formation.date_exclusion.map(|d| d.to_string()).as_deref(), Some("2026-03-02"));
}

#[test]
fn an_item_that_is_not_an_object_is_refused() {
    assert_eq!(errors_of(&json!([1, 2])), [String::new()]);
    assert_eq!(errors_of(&json!("dossier")), [String::new()]);
}

mod properties {
    //! Whatever an ERP sends, parsing never fails of ours, and what the edge accepts becomes events
    //! every read model can hold: the projections never have to set aside what today's service wrote.

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use crate::ingestion::diff::decide;
    use crate::ingestion::v3::parse;
    use events::dossier::Dossier;

    /// A value of any JSON kind, as a careless or hostile ERP sends them.
    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            ".{0,40}".prop_map(Value::from),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}".prop_map(Value::from),
            "[0-9]{1,16}".prop_map(Value::from),
            Just(json!("x".repeat(600))),
            Just(json!([1])),
            Just(json!({ "a": 1 })),
        ]
    }

    /// Fields an item may hold.
    const FIELDS: [&str; 24] = [
        "nom_apprenant",
        "prenom_apprenant",
        "date_de_naissance_apprenant",
        "annee_scolaire",
        "id_erp_apprenant",
        "statut_apprenant",
        "date_metier_mise_a_jour_statut",
        "ine_apprenant",
        "nir_apprenant",
        "email_contact",
        "tel_apprenant",
        "adresse_apprenant",
        "code_postal_apprenant",
        "code_commune_insee_apprenant",
        "rqth_apprenant",
        "libelle_court_formation",
        "annee_formation",
        "date_entree_formation",
        "date_fin_formation",
        "duree_theorique_formation_mois",
        "contrat_date_debut",
        "contrat_date_fin",
        "contrat_date_rupture",
        "cause_rupture_contrat",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn what_the_edge_accepts_every_read_model_can_hold(
            changes in proptest::collection::vec((0..FIELDS.len(), any_value()), 0..6)
        ) {
            let mut item = super::valid();
            for (field, value) in changes {
                item[FIELDS[field]] = value;
            }
            if let Ok(snapshot) = parse(&item) {
                for event in decide(&Dossier::default(), &snapshot, "api-v3") {
                    prop_assert!(event.bornes().is_ok(), "{:?} out of bounds: {:?}", event, event.bornes());
                }
            }
        }
    }
}
