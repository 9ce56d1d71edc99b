//! Synthetic Affelnet and Parcoursup vœux coherent with a generated data set (domain.md §8): most
//! first-year learners of the current school year had formulated a vœu for the organisme they are at
//! (some files lack their INE, some spell their name differently), some also targeted another
//! organisme, and as many candidates again never became apprentices (no dossier anywhere). CAP and Bac
//! pro formations (CFD starting with 5 or 4) go through Affelnet, the others through Parcoursup.

use chrono::{Datelike, Duration, NaiveDate};
use events::domain::territoire;
use events::voeu::Source;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::names::{FORMATIONS, NOMS, PRENOMS_F, PRENOMS_M};
use super::organisme::DemoOrganisme;

pub const AFFELNET_HEADER: &str = "academie;ine;nom;prenom1;prenom2;date_naissance;email;telephone;\
                                   telephone_responsable;cle_formation;cfd;libelle_formation;uai_formateur;\
                                   uai_responsable;rang;rentree";
pub const PARCOURSUP_HEADER: &str = "academie;ine;nom;prenoms;date_naissance;email;telephone;code_formation;cfd;rncp;libelle_formation;\
     uai_formateur;rang;rentree";

/// One vœu to write.
struct Ligne<'a> {
    site: &'a DemoOrganisme,
    responsable: &'a DemoOrganisme,
    cfd: &'a str,
    rncp: &'a str,
    libelle: &'a str,
    ine: Option<String>,
    nom: String,
    prenom: String,
    naissance: NaiveDate,
    rang: i32,
}

fn source_of(cfd: &str) -> Source {
    if cfd.starts_with('5') || cfd.starts_with('4') { Source::Affelnet } else { Source::Parcoursup }
}

/// The rentrée of the school year `today` is in.
pub fn rentree(today: NaiveDate) -> i32 {
    if today.month() >= 8 { today.year() } else { today.year() - 1 }
}

/// The vœux files (one per source) of the current rentrée for `dossiers`.
pub fn generate(
    organismes: &[DemoOrganisme],
    dossiers: &[(usize, Value)],
    seed: u64,
    today: NaiveDate,
) -> Vec<(Source, String)> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(7));
    let rentree = rentree(today);
    let annee = format!("{}-{}", rentree, rentree + 1);
    let formateurs: Vec<usize> =
        organismes.iter().enumerate().filter(|(_, o)| o.nature != "responsable").map(|(i, _)| i).collect();
    let text = |item: &Value, key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut lignes = Vec::new();
    for (formateur, item) in dossiers {
        let first_year = item.get("annee_formation").and_then(Value::as_i64) == Some(1);
        if text(item, "annee_scolaire").as_deref() != Some(annee.as_str()) || !first_year {
            continue;
        }
        if !rng.random_bool(0.7) {
            continue;
        }
        let site = &organismes[*formateur];
        let Some(formation) =
            FORMATIONS.iter().find(|f| text(item, "formation_cfd").as_deref() == Some(f.cfd))
        else {
            continue;
        };
        let nom = text(item, "nom_apprenant").unwrap_or_default();
        let nom = if rng.random_bool(0.5) { capitalised(&nom) } else { nom };
        let ine = text(item, "ine_apprenant").filter(|_| rng.random_bool(0.85));
        let Some(naissance) =
            text(item, "date_de_naissance_apprenant").and_then(|d| d.parse::<NaiveDate>().ok())
        else {
            continue;
        };
        // Affelnet is for pupils leaving the 3e, Parcoursup for young bacheliers.
        let age = rentree - naissance.year();
        if age > if source_of(formation.cfd) == Source::Affelnet { 17 } else { 25 } {
            continue;
        }
        let prenom = text(item, "prenom_apprenant").unwrap_or_default();
        let ligne = Ligne {
            site,
            responsable: &organismes[site.responsable],
            cfd: formation.cfd,
            rncp: formation.rncp,
            libelle: formation.libelle,
            ine,
            nom,
            prenom,
            naissance,
            rang: 1,
        };
        if rng.random_bool(0.3) {
            let other = &organismes[formateurs[rng.random_range(0..formateurs.len())]];
            if other.uai != site.uai {
                lignes.push(Ligne {
                    site: other,
                    responsable: &organismes[other.responsable],
                    rang: 2,
                    ine: ligne.ine.clone(),
                    nom: ligne.nom.clone(),
                    prenom: ligne.prenom.clone(),
                    ..ligne
                });
            }
        }
        lignes.push(ligne);
    }
    // Candidates who never became apprentices.
    for _ in 0..lignes.len() / 2 {
        let site = &organismes[formateurs[rng.random_range(0..formateurs.len())]];
        let formation = &FORMATIONS[rng.random_range(0..FORMATIONS.len())];
        let age = if source_of(formation.cfd) == Source::Affelnet { 15 } else { 18 };
        let from = NaiveDate::from_ymd_opt(rentree - age, 1, 1).expect("1 January");
        let feminin = rng.random_bool(0.42);
        let prenoms = if feminin { PRENOMS_F } else { PRENOMS_M };
        let letters: String = (0..2).map(|_| char::from(b'A' + rng.random_range(0..26u8))).collect();
        lignes.push(Ligne {
            site,
            responsable: &organismes[site.responsable],
            cfd: formation.cfd,
            rncp: formation.rncp,
            libelle: formation.libelle,
            ine: Some(format!("{:09}{letters}", rng.random_range(0..1_000_000_000u32))),
            nom: NOMS[rng.random_range(0..NOMS.len())].to_owned(),
            prenom: prenoms[rng.random_range(0..prenoms.len())].to_owned(),
            naissance: from + Duration::days(rng.random_range(0..365)),
            rang: 1,
        });
    }
    let mut affelnet = format!("{AFFELNET_HEADER}\n");
    let mut parcoursup = format!("{PARCOURSUP_HEADER}\n");
    let mut seen = std::collections::HashSet::new();
    for (n, l) in lignes.iter().enumerate() {
        let who = l
            .ine
            .clone()
            .unwrap_or_else(|| format!("{}|{}|{}", ascii(&l.nom), ascii(&l.prenom), l.naissance));
        if !seen.insert((who, l.cfd, &l.site.uai)) {
            continue;
        }
        let academie = territoire::departement(&l.site.departement).map_or("", |d| d.academie.as_str());
        let ine = l.ine.as_deref().unwrap_or("");
        let email = format!("{}.{}{}@example.net", ascii(&l.prenom), ascii(&l.nom), n % 89);
        let telephone = format!("06{:08}", (n * 7919) % 100_000_000);
        let (nom, prenom, naissance, uai) = (&l.nom, &l.prenom, l.naissance, &l.site.uai);
        match source_of(l.cfd) {
            Source::Affelnet => affelnet.push_str(&format!(
                "{academie};{ine};{nom};{prenom};;{};{email};{telephone};07{:08};AFF{};{};{};{uai};{};{};{rentree}\n",
                naissance.format("%d/%m/%Y"),
                (n * 104_729) % 100_000_000,
                l.cfd,
                l.cfd,
                l.libelle,
                l.responsable.uai,
                l.rang,
            )),
            Source::Parcoursup => parcoursup.push_str(&format!(
                "{academie};{ine};{nom};{prenom};{naissance};{email};{telephone};PS{};{};{};{};{uai};;{rentree}\n",
                &l.cfd[..6],
                l.cfd,
                l.rncp,
                l.libelle,
            )),
        }
    }
    vec![(Source::Affelnet, affelnet), (Source::Parcoursup, parcoursup)]
}

/// `DUPONT` → `Dupont`, `LE GOFF` → `Le Goff`: how another system may spell the same name.
fn capitalised(nom: &str) -> String {
    let mut out = String::with_capacity(nom.len());
    let mut start = true;
    for c in nom.chars() {
        if start {
            out.extend(c.to_uppercase())
        } else {
            out.extend(c.to_lowercase())
        }
        start = !c.is_alphabetic();
    }
    out
}

fn ascii(name: &str) -> String {
    events::dossier::normalise_nom(name).to_lowercase()
}

/// The file name of a source's vœux in a data set.
pub fn file_name(source: Source) -> String {
    format!("voeux_{}.csv", source.as_str().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_spelled_another_way_but_normalise_alike() {
        assert_eq!(capitalised("LE GOFF-HÉLIAS"), "Le Goff-Hélias");
        assert_eq!(
            events::dossier::normalise_nom(&capitalised("N'DIAYE")),
            events::dossier::normalise_nom("N'DIAYE")
        );
    }
}
