//! Synthetic data that looks like what ERPs send: organismes in every département, formations with
//! CFD/RNCP and niveaux, learners aged 15–30 with residence communes and contacts, contracts, ruptures
//! (~22 % within 9 months, some followed by a new contract), abandons, RQTH, diplomas. Deterministic
//! for a seed, and never dated after `today` (a fact cannot be known before it happens).

use chrono::{Datelike, Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::names::{CAUSES_ABANDON, CAUSES_RUPTURE, FORMATIONS, NOMS, PRENOMS_F, PRENOMS_M, RUES};
use super::organisme::DemoOrganisme;
use std::collections::HashMap;
use std::sync::OnceLock;

use events::domain::communes::{self, Commune};
use events::domain::territoire;

/// A generated data set: the referential and the v3 dossiers, grouped by formateur.
#[derive(Debug, Clone)]
pub struct Demo {
    pub organismes: Vec<DemoOrganisme>,
    /// `(index of the formateur organisme, v3 item)`.
    pub dossiers: Vec<(usize, Value)>,
    /// The vœux files of the current rentrée, per source (CSV text).
    pub voeux: Vec<(events::voeu::Source, String)>,
    /// The learners of the organismes that never push (the last `SILENCIEUX` of `organismes`), known
    /// only from DECA: v3 items, written as an extract by `deca_csv`.
    pub deca: Vec<Value>,
}

impl Demo {
    /// The referential in the format of `tba organismes import`.
    pub fn organismes_csv(&self) -> String {
        let mut csv = String::from("uai,siret,nom,code_commune_insee,code_postal,departement,nature\n");
        for o in &self.organismes {
            csv.push_str(&format!(
                "{},{},\"{}\",{},{},{},{}\n",
                o.uai, o.siret, o.nom, o.code_commune_insee, o.code_postal, o.departement, o.nature
            ));
        }
        csv
    }
}

/// Learners per organisme, on average.
const PER_ORGANISME: usize = 500;

pub fn generate(dossiers: usize, seed: u64, today: NaiveDate) -> Demo {
    let mut rng = StdRng::seed_from_u64(seed);
    let organismes = organismes(&mut rng, dossiers.div_ceil(PER_ORGANISME));
    let formateurs: Vec<usize> =
        organismes.iter().enumerate().filter(|(_, o)| o.nature != "responsable").map(|(i, _)| i).collect();
    let mut counters = vec![0usize; organismes.len()];
    let dossiers: Vec<(usize, Value)> = (0..dossiers)
        .map(|_| {
            let formateur = formateurs[rng.random_range(0..formateurs.len())];
            counters[formateur] += 1;
            let item = dossier(&mut rng, &organismes, formateur, counters[formateur], today);
            (formateur, item)
        })
        .collect();
    let voeux = super::voeux::generate(&organismes, &dossiers, seed, today);
    // Last, so that the dossiers above stay those of the seed: a few organismes whose software never
    // transmits, whose learners the national contracts base knows.
    let mut organismes = organismes;
    let departements = departements();
    let mut deca = Vec::new();
    for departement in departements.into_iter().take(SILENCIEUX) {
        let id = organismes.len();
        organismes.push(organisme(&mut rng, departement, id, "responsable_formateur", id));
        for n in 1..=(PER_ORGANISME / 10).min(dossiers.len().max(1)) {
            deca.push(dossier(&mut rng, &organismes, id, n, today));
        }
    }
    Demo { organismes, dossiers, voeux, deca }
}

/// Organismes of the demo that never push: DECA's only.
pub const SILENCIEUX: usize = 3;

fn departements() -> Vec<&'static territoire::Departement> {
    territoire::departements()
        .into_iter()
        .filter(|d| d.code.len() == 2 || ("971"..="976").contains(&d.code.as_str()))
        .collect()
}

/// At least one organisme per département; about four in ten sites are formateurs of a separate
/// responsable.
fn organismes(rng: &mut StdRng, wanted: usize) -> Vec<DemoOrganisme> {
    let departements = departements();
    let mut organismes: Vec<DemoOrganisme> = Vec::new();
    for n in 0..wanted.max(departements.len()) {
        let departement = departements[n % departements.len()];
        let id = organismes.len();
        let separate_responsable = rng.random_bool(0.4);
        if separate_responsable {
            let responsable = organisme(rng, departement, id, "responsable", id);
            organismes.push(responsable);
            organismes.push(organisme(rng, departement, id + 1, "formateur", id));
        } else {
            organismes.push(organisme(rng, departement, id, "responsable_formateur", id));
        }
    }
    organismes
}

fn organisme(
    rng: &mut StdRng,
    departement: &territoire::Departement,
    id: usize,
    nature: &'static str,
    responsable: usize,
) -> DemoOrganisme {
    let prefix = match departement.code.as_str() {
        "2A" => "620".to_owned(),
        "2B" => "720".to_owned(),
        code if code.len() == 3 => code.to_owned(),
        code => format!("0{code}"),
    };
    let letter = char::from(b'A' + rng.random_range(0..26u8));
    let (insee, code_postal) = commune(rng, &departement.code);
    let kind = match nature {
        "responsable" => "Chambre de Métiers et de l'Artisanat",
        _ => [
            "CFA des Métiers",
            "CFA Interprofessionnel",
            "CFA du BTP",
            "Lycée professionnel",
            "CFA de l'Industrie",
        ][id % 5],
    };
    DemoOrganisme {
        uai: format!("{prefix}{:04}{letter}", id % 10_000),
        siret: format!("{:09}{:05}", 130_000_000 + id * 7, rng.random_range(10..99_999)),
        nom: format!("{kind} ({} n°{id})", departement.code),
        code_commune_insee: insee,
        code_postal,
        departement: departement.code.clone(),
        nature,
        responsable,
    }
}

/// The current communes with a postal code, by département.
fn communes_by_departement() -> &'static HashMap<String, Vec<&'static Commune>> {
    static INDEX: OnceLock<HashMap<String, Vec<&'static Commune>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index: HashMap<String, Vec<&'static Commune>> = HashMap::new();
        for commune in communes::actuelles().into_iter().filter(|c| !c.codes_postaux.is_empty()) {
            index.entry(commune.departement.clone()).or_default().push(commune);
        }
        index
    })
}

/// A commune of the département: its INSEE code and one of its postal codes (a synthetic one where the
/// communes file has none for the département).
fn commune(rng: &mut StdRng, departement: &str) -> (String, String) {
    if let Some(communes) = communes_by_departement().get(departement).filter(|c| !c.is_empty()) {
        let commune = communes[rng.random_range(0..communes.len())];
        return (commune.code.clone(), commune.codes_postaux[0].clone());
    }
    if departement.len() == 3 {
        let n = rng.random_range(1..25);
        (format!("{departement}{n:02}"), format!("{departement}{:02}", n * 2 % 100))
    } else {
        let n = rng.random_range(1..300);
        let postal_departement = match departement {
            "2A" => "20",
            "2B" => "20",
            code => code,
        };
        (format!("{departement}{n:03}"), format!("{postal_departement}{:03}", (n % 9) * 10 + 100))
    }
}

/// The demo's formations referential, in the format of `tba formations import`: the catalogue its
/// dossiers are drawn from, with their ROME codes.
pub fn formations_csv() -> String {
    let mut csv = String::from("cfd,rncp,libelle,niveau,codes_rome\n");
    for f in super::names::FORMATIONS {
        // The niveau is the CFD's first digit in the old nomenclature (5: CAP → 3, 4: bac → 4, 3: BTS → 5,
        // 2: licence, BUT → 6, 1: master, ingénieur → 7).
        let niveau = match f.cfd.as_bytes()[0] {
            b'5' => "3",
            b'4' => "4",
            b'3' => "5",
            b'2' => "6",
            b'1' => "7",
            _ => "",
        };
        csv.push_str(&format!(
            "{},{},\"{}\",{niveau},{}\n",
            f.cfd,
            f.rncp,
            f.libelle.replace('"', "\"\""),
            f.rome
        ));
    }
    csv
}

/// The synthetic Missions Locales of the demo, in the format of `tba missions-locales import`: one per
/// département of the demo's organismes, whose territory is every current commune of the département.
pub fn missions_locales_csv() -> String {
    let mut by_departement: HashMap<&str, Vec<&str>> = HashMap::new();
    for commune in communes::actuelles() {
        by_departement.entry(commune.departement.as_str()).or_default().push(commune.code.as_str());
    }
    let mut csv = String::from("ml_id,nom,siret,email,telephone,communes\n");
    for (n, departement) in departements().iter().enumerate() {
        let Some(codes) = by_departement.get(departement.code.as_str()) else { continue };
        let code = departement.code.to_lowercase();
        csv.push_str(&format!(
            "ML-{},Mission Locale du {},{:014},contact@ml-{code}.example.org,01{:08},{}\n",
            departement.code,
            departement.code,
            13_000_000_000_000u64 + n as u64,
            40_000_000 + n,
            codes.join(" ")
        ));
    }
    csv
}

fn pick<'a, T>(rng: &mut StdRng, list: &'a [T]) -> &'a T {
    &list[rng.random_range(0..list.len())]
}

fn day(rng: &mut StdRng, from: NaiveDate, days: i64) -> NaiveDate {
    from + Duration::days(rng.random_range(0..days.max(1)))
}

fn dossier(
    rng: &mut StdRng,
    organismes: &[DemoOrganisme],
    formateur: usize,
    n: usize,
    today: NaiveDate,
) -> Value {
    let site = &organismes[formateur];
    let responsable = &organismes[site.responsable];
    let formation = pick(rng, FORMATIONS);
    // Most dossiers are of the current school year and the previous one; some are older and over.
    let current = if today.month() >= 8 { today.year() } else { today.year() - 1 };
    let start_year = match rng.random_range(0..100) {
        0..45 => current,
        45..90 => current - 1,
        _ => current - 2,
    };
    let entree = day(rng, NaiveDate::from_ymd_opt(start_year, 9, 1).expect("1 September"), 45);
    if entree > today {
        return dossier(rng, organismes, formateur, n, today);
    }
    let fin = entree + Duration::days(formation.mois * 30 - 60);
    let inscription = entree - Duration::days(rng.random_range(0..60));
    let age = match rng.random_range(0..100) {
        0..35 => rng.random_range(15..18),
        35..70 => rng.random_range(18..21),
        70..92 => rng.random_range(21..26),
        _ => rng.random_range(26..31),
    };
    let naissance = day(rng, NaiveDate::from_ymd_opt(start_year - age, 1, 1).expect("1 January"), 365);
    let feminin = rng.random_bool(0.42);
    let prenom = if feminin { pick(rng, PRENOMS_F) } else { pick(rng, PRENOMS_M) };
    let nom = pick(rng, NOMS);
    let (insee, code_postal) = commune(rng, &site.departement);
    let mut item = Map::new();
    let mut set = |key: &str, value: Value| {
        item.insert(key.to_owned(), value);
    };
    set("nom_apprenant", json!(nom));
    set("prenom_apprenant", json!(prenom));
    set("date_de_naissance_apprenant", json!(naissance));
    set("sexe_apprenant", json!(if feminin { "F" } else { "M" }));
    set("annee_scolaire", json!(format!("{}-{}", entree.year(), entree.year() + 1)));
    set("id_erp_apprenant", json!(format!("ERP{formateur:05}-{n:06}")));
    if rng.random_bool(0.7) {
        let letters: String = (0..2).map(|_| char::from(b'A' + rng.random_range(0..26u8))).collect();
        set("ine_apprenant", json!(format!("{:09}{letters}", rng.random_range(0..1_000_000_000u32))));
    }
    set("email_contact", json!(format!("{}.{}{}@example.org", ascii(prenom), ascii(nom), n % 97)));
    set(
        "tel_apprenant",
        json!(format!("0{}{:08}", rng.random_range(6..8), rng.random_range(0..100_000_000))),
    );
    set("adresse_apprenant", json!(format!("{} {}", rng.random_range(1..120), pick(rng, RUES))));
    set("code_postal_apprenant", json!(code_postal));
    set("code_commune_insee_apprenant", json!(insee));
    if age < 18 {
        set("responsable_apprenant_mail1", json!(format!("parent.{}{}@example.org", ascii(nom), n % 89)));
    }
    if rng.random_bool(0.03) {
        set("rqth_apprenant", json!(true));
    }
    set("formation_cfd", json!(formation.cfd));
    set("formation_rncp", json!(formation.rncp));
    set("libelle_court_formation", json!(formation.libelle));
    set("annee_formation", json!(1 + i64::from(current - start_year).min(formation.mois / 12 - 1).max(0)));
    set("duree_theorique_formation_mois", json!(formation.mois));
    set("date_inscription_formation", json!(inscription));
    set("date_entree_formation", json!(entree));
    set("date_fin_formation", json!(fin));
    set("etablissement_responsable_uai", json!(responsable.uai));
    set("etablissement_responsable_siret", json!(responsable.siret));
    set("etablissement_formateur_uai", json!(site.uai));
    set("etablissement_formateur_siret", json!(site.siret));
    let mut statut = contracts(rng, &mut set, entree, fin, today);
    if rng.random_bool(0.05) {
        let exclusion = day(rng, entree + Duration::days(30), 200);
        if exclusion <= today {
            set("date_exclusion_formation", json!(exclusion));
            set("cause_exclusion_formation", json!(pick(rng, CAUSES_ABANDON)));
            statut = 0;
        }
    }
    set("statut_apprenant", json!(statut));
    if fin < today && statut == 3 && rng.random_bool(0.8) {
        set("obtention_diplome_formation", json!(true));
        set("date_obtention_diplome_formation", json!(fin));
    }
    Value::Object(item)
}

/// Up to two contracts: most learners sign one near the start; ~22 % of contracts are broken within
/// 9 months, and four in ten of those learners sign another. Returns the ERP's `statut_apprenant`.
fn contracts(
    rng: &mut StdRng,
    set: &mut impl FnMut(&str, Value),
    entree: NaiveDate,
    fin: NaiveDate,
    today: NaiveDate,
) -> i64 {
    if !rng.random_bool(0.88) {
        return 2;
    }
    let debut = entree + Duration::days(rng.random_range(-14..45));
    if debut > today {
        return 2;
    }
    set("contrat_date_debut", json!(debut));
    set("contrat_date_fin", json!(fin - Duration::days(rng.random_range(0..30))));
    set(
        "siret_employeur",
        json!(format!("{:014}", rng.random_range(10_000_000_000_000u64..99_999_999_999_999))),
    );
    if !rng.random_bool(0.22) {
        return 3;
    }
    let rupture = debut + Duration::days(rng.random_range(1..270));
    if rupture > today || rupture > fin {
        return 3;
    }
    set("contrat_date_rupture", json!(rupture));
    set("cause_rupture_contrat", json!(pick(rng, CAUSES_RUPTURE)));
    let second = rupture + Duration::days(rng.random_range(10..120));
    if rng.random_bool(0.4) && second <= today && second < fin {
        set("contrat_date_debut_2", json!(second));
        set("contrat_date_fin_2", json!(fin));
        set(
            "siret_employeur_2",
            json!(format!("{:014}", rng.random_range(10_000_000_000_000u64..99_999_999_999_999))),
        );
        return 3;
    }
    2
}

/// A name as it can appear in an e-mail address.
fn ascii(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' | 'É' => Some('e'),
            'à' | 'â' => Some('a'),
            'î' | 'ï' => Some('i'),
            'ô' => Some('o'),
            'ù' | 'û' | 'ü' => Some('u'),
            'ç' => Some('c'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingestion::v3;

    #[test]
    fn every_generated_dossier_is_a_valid_v3_item() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date");
        let demo = generate(3000, 7, today);
        assert!(demo.organismes.len() >= 101, "every département has an organisme");
        let organismes = crate::ingestion::organismes::parse_csv(demo.organismes_csv().as_bytes());
        assert!(organismes.is_ok(), "{:?}", organismes.err());
        let (mut ruptures, mut contrats) = (0, 0);
        for (_, item) in &demo.dossiers {
            let dossier = v3::parse(item).unwrap_or_else(|e| panic!("{e:?}\n{item:#}"));
            for contrat in &dossier.contrats {
                contrats += 1;
                ruptures += usize::from(contrat.date_rupture.is_some());
                assert!(contrat.date_debut <= today && contrat.date_rupture.is_none_or(|d| d <= today));
            }
        }
        let rate = ruptures as f64 / contrats as f64;
        assert!((0.12..0.26).contains(&rate), "rupture rate {rate}");
        assert_eq!(generate(50, 7, today).dossiers, generate(50, 7, today).dossiers, "deterministic");
    }

    #[test]
    fn the_demo_formations_referential_is_valid_and_covers_its_dossiers() {
        let formations = crate::ingestion::formations::parse_csv(formations_csv().as_bytes())
            .unwrap_or_else(|e| panic!("{:?}", &e[..e.len().min(3)]));
        assert!(formations.iter().all(|f| !f.secteurs().is_empty() && f.niveau.is_some()));
        let cfds: std::collections::HashSet<String> = formations.iter().map(|f| f.cfd.to_string()).collect();
        let demo = generate(200, 3, NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date"));
        for (_, item) in &demo.dossiers {
            let cfd = item["formation_cfd"].as_str().expect("a CFD");
            assert!(cfds.contains(cfd), "{cfd} is in the referential");
        }
    }

    #[test]
    fn every_demo_residence_is_a_real_commune_in_a_demo_mission_locale() {
        let missions = crate::ingestion::missions_locales::parse_csv(missions_locales_csv().as_bytes())
            .unwrap_or_else(|e| panic!("{:?}", &e[..e.len().min(3)]));
        assert!(missions.len() >= 101, "one per département: {}", missions.len());
        let served: std::collections::HashSet<&str> =
            missions.iter().flat_map(|m| m.communes.iter().map(String::as_str)).collect();
        let demo = generate(2000, 3, NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date"));
        for (_, item) in &demo.dossiers {
            let insee = item["code_commune_insee_apprenant"].as_str().expect("a residence");
            let commune = communes::commune(insee).unwrap_or_else(|| panic!("{insee} is a commune"));
            assert!(served.contains(commune.commune.as_str()), "{insee} has its Mission Locale");
            let postal = item["code_postal_apprenant"].as_str().expect("a postal code");
            assert!(commune.codes_postaux.iter().any(|p| p == postal), "{insee} {postal}");
        }
    }
}
