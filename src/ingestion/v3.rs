//! The API v3 dossier ("dossier apprenant") that today's ERPs send, validated and normalised exactly as
//! domain.md §3 says. `parse` turns one item of a push (or one spreadsheet row) into a `DossierV3`
//! snapshot, or into the list of its refused fields; the diff against the log is done elsewhere.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use super::FieldError;
use super::fields::Item;
use events::domain::{
    AnneeScolaire, Cfd, CodeInsee, CodePostal, Email, Ine, Invalid, OrganismeRef, Rncp, Siret, Telephone, Uai,
};
use events::dossier::DossierKey;
use events::limits::{self, Texte};

/// The fields every item must have (the columns every deposited file must have).
pub const REQUIRED_FIELDS: [&str; 12] = [
    "nom_apprenant",
    "prenom_apprenant",
    "date_de_naissance_apprenant",
    "annee_scolaire",
    "id_erp_apprenant",
    "date_inscription_formation",
    "date_entree_formation",
    "date_fin_formation",
    "etablissement_responsable_uai",
    "etablissement_responsable_siret",
    "etablissement_formateur_uai",
    "etablissement_formateur_siret",
];

/// Contract field suffixes: up to four contracts per dossier.
const CONTRACT_SUFFIXES: [&str; 4] = ["", "_2", "_3", "_4"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DossierV3 {
    #[serde(skip)]
    pub key: DossierKey,
    pub apprenant: Apprenant,
    pub formation: Formation,
    pub contrats: Vec<Contrat>,
    pub responsable: OrganismeRef,
    pub formateur: OrganismeRef,
    pub lieu_de_formation: Option<LieuDeFormation>,
    pub statut_apprenant: Option<StatutApprenant>,
    pub date_metier_mise_a_jour_statut: Option<DateTime<Utc>>,
    pub derniere_situation: Option<i64>,
    pub dernier_organisme_uai: Option<String>,
    pub type_cfa: Option<String>,
    pub custom_statut_apprenant: Option<String>,
    pub referent_handicap: Option<ReferentHandicap>,
}

/// The learner. Every field here but `has_nir` is personal data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Apprenant {
    pub nom: String,
    pub prenom: String,
    pub date_de_naissance: NaiveDate,
    pub ine: Option<Ine>,
    /// The NIR itself is never kept.
    pub has_nir: bool,
    pub email: Option<Email>,
    pub telephone: Option<Telephone>,
    pub adresse: Option<String>,
    pub code_postal: Option<CodePostal>,
    pub code_commune_insee: Option<CodeInsee>,
    pub code_commune_insee_de_naissance: Option<CodeInsee>,
    pub code_postal_de_naissance: Option<String>,
    pub sexe: Option<Sexe>,
    pub rqth: Option<bool>,
    pub date_rqth: Option<NaiveDate>,
    pub responsables_mails: Vec<Email>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Sexe {
    M,
    F,
}

/// What the ERP says of the learner's status (not the status: that is computed from the dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StatutApprenant {
    Abandon = 0,
    Inscrit = 2,
    Apprenti = 3,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Formation {
    pub cfd: Option<Cfd>,
    pub rncp: Option<Rncp>,
    pub libelle_court: Option<String>,
    pub annee_formation: Option<i64>,
    pub date_inscription: NaiveDate,
    pub date_entree: NaiveDate,
    pub date_fin: NaiveDate,
    pub duree_theorique_mois: Option<i64>,
    pub obtention_diplome: Option<bool>,
    pub date_obtention_diplome: Option<NaiveDate>,
    pub date_exclusion: Option<NaiveDate>,
    pub cause_exclusion: Option<String>,
    pub presentielle: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contrat {
    pub date_debut: NaiveDate,
    pub date_fin: Option<NaiveDate>,
    pub date_rupture: Option<NaiveDate>,
    pub cause_rupture: Option<String>,
    pub siret_employeur: Option<Siret>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LieuDeFormation {
    pub uai: Option<Uai>,
    pub siret: Option<Siret>,
    pub adresse: Option<String>,
    pub code_postal: Option<CodePostal>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferentHandicap {
    pub nom: Option<String>,
    pub prenom: Option<String>,
    pub email: Option<Email>,
}

/// Validate and normalise one item, today. Every refused field is reported, not only the first.
pub fn parse(item: &Value) -> Result<DossierV3, Vec<FieldError>> {
    parse_on(item, Utc::now().date_naive())
}

/// Validate and normalise one item as on `today` (business dates are plausible up to ten years ahead).
pub fn parse_on(item: &Value, today: NaiveDate) -> Result<DossierV3, Vec<FieldError>> {
    let Some(fields) = item.as_object() else {
        return Err(vec![FieldError::new("", "chaque dossier doit être un objet JSON")]);
    };
    let mut item = Item::new(fields);
    let dossier = read(&mut item, today);
    match dossier {
        Some(dossier) if item.errors.is_empty() => Ok(dossier),
        _ => Err(item.errors),
    }
}

fn read(item: &mut Item<'_>, today: NaiveDate) -> Option<DossierV3> {
    let apprenant = apprenant(item, today);
    let annee = item.required("annee_scolaire", AnneeScolaire::parse);
    let id_erp = item.required_identifier("id_erp_apprenant");
    let responsable = organisme(item, "etablissement_responsable");
    let formateur = organisme(item, "etablissement_formateur");
    let formation = formation(item, today);
    if let (Some(apprenant), Some(formation)) = (&apprenant, &formation)
        && let Err(Invalid(message)) = limits::naissance(apprenant.date_de_naissance, formation.date_entree)
    {
        item.refuse("date_de_naissance_apprenant", message);
    }
    let contrats = contrats(item, today);
    let statut_apprenant = item.parsed("statut_apprenant", |s| match s {
        "0" => Ok(StatutApprenant::Abandon),
        "2" => Ok(StatutApprenant::Inscrit),
        "3" => Ok(StatutApprenant::Apprenti),
        _ => Err(Invalid::new("statut_apprenant doit valoir 0 (abandon), 2 (inscrit) ou 3 (apprenti)")),
    });
    let date_metier_mise_a_jour_statut = item.datetime("date_metier_mise_a_jour_statut", today);
    let derniere_situation = item.parsed("derniere_situation", |s| {
        s.parse::<i64>().map_err(|_| Invalid::new("code SIFA de situation N-1 attendu (nombre)"))
    });
    let dernier_organisme_uai = item.parsed("dernier_organisme_uai", dernier_organisme);
    let type_cfa = item.parsed("type_cfa", |s| match s.parse::<u8>() {
        Ok(n @ 1..=10) => Ok(format!("{n:02}")),
        _ => Err(Invalid::new("type_cfa doit valoir de 01 à 10")),
    });
    let custom_statut_apprenant = item.label("custom_statut_apprenant", Texte::Libelle);
    let lieu_de_formation = lieu(item);
    let referent_handicap = referent(item);

    let key = DossierKey::new(formateur.clone()?.uai, annee?, &id_erp?).ok()?;
    let mut formation = formation?;
    // A status 0 (abandon) dated by the ERP is an exclusion at that date.
    if statut_apprenant == Some(StatutApprenant::Abandon) && formation.date_exclusion.is_none() {
        formation.date_exclusion = date_metier_mise_a_jour_statut.map(|d| d.date_naive());
    }
    Some(DossierV3 {
        key,
        apprenant: apprenant?,
        formation,
        contrats,
        responsable: responsable?,
        formateur: formateur?,
        lieu_de_formation,
        statut_apprenant,
        date_metier_mise_a_jour_statut,
        derniere_situation: derniere_situation.filter(|&code| code != 0),
        dernier_organisme_uai,
        type_cfa,
        custom_statut_apprenant,
        referent_handicap,
    })
}

fn apprenant(item: &mut Item<'_>, today: NaiveDate) -> Option<Apprenant> {
    let nom = item.required_label("nom_apprenant", Texte::Nom).map(|n| n.to_uppercase());
    let prenom = item.required_label("prenom_apprenant", Texte::Nom);
    let date_de_naissance = item.required_day("date_de_naissance_apprenant");
    let ine = item.parsed("ine_apprenant", Ine::parse);
    // Whatever its form, the NIR is never kept: only whether one was sent (see `warnings`).
    let has_nir = item.text("nir_apprenant").is_some();
    let email = item.parsed("email_contact", Email::parse);
    let telephone = item.parsed("tel_apprenant", Telephone::parse);
    let adresse = item.label("adresse_apprenant", Texte::Adresse);
    let code_postal = item.parsed("code_postal_apprenant", CodePostal::parse);
    let code_commune_insee = item.parsed("code_commune_insee_apprenant", CodeInsee::parse);
    let code_commune_insee_de_naissance =
        item.parsed("code_commune_insee_de_naissance_apprenant", CodeInsee::parse);
    // Foreign births are `99` and the country code; anything unusable is dropped, not refused.
    let code_postal_de_naissance =
        item.lenient("code_postal_de_naissance_apprenant", |s| CodePostal::parse(s).map(|c| c.to_string()));
    let sexe = item.parsed("sexe_apprenant", |s| match s.to_uppercase().as_str() {
        "M" | "H" | "1" => Ok(Sexe::M),
        "F" | "2" => Ok(Sexe::F),
        _ => Err(Invalid::new("sexe_apprenant doit valoir M ou F")),
    });
    let rqth = item.boolean("rqth_apprenant");
    let date_rqth = item.date("date_rqth_apprenant", today);
    let responsables_mails = ["responsable_apprenant_mail1", "responsable_apprenant_mail2"]
        .into_iter()
        .filter_map(|field| item.parsed(field, Email::parse))
        .collect();
    Some(Apprenant {
        nom: nom?,
        prenom: prenom?,
        date_de_naissance: date_de_naissance?,
        ine,
        has_nir,
        email,
        telephone,
        adresse,
        code_postal,
        code_commune_insee,
        code_commune_insee_de_naissance,
        code_postal_de_naissance,
        sexe,
        rqth,
        date_rqth,
        responsables_mails,
    })
}

fn formation(item: &mut Item<'_>, today: NaiveDate) -> Option<Formation> {
    let cfd = item.parsed("formation_cfd", Cfd::parse);
    let rncp = item.parsed("formation_rncp", Rncp::parse);
    let libelle_court = item.label("libelle_court_formation", Texte::Libelle);
    let annee_formation = item.integer("annee_formation", 0..=5);
    let date_inscription = item.required_date("date_inscription_formation", today);
    let date_entree = item.required_date("date_entree_formation", today);
    let date_fin = item.required_date("date_fin_formation", today);
    if let (Some(entree), Some(fin)) = (date_entree, date_fin)
        && fin < entree
    {
        item.refuse(
            "date_fin_formation",
            "la date de fin de formation doit être postérieure à la date d'entrée",
        );
    }
    let mois = item.lenient_integer("duree_theorique_formation_mois", 1..=48);
    let annees = item.lenient_integer("duree_theorique_formation", 1..=4);
    Some(Formation {
        cfd,
        rncp,
        libelle_court,
        annee_formation,
        date_inscription: date_inscription?,
        date_entree: date_entree?,
        date_fin: date_fin?,
        duree_theorique_mois: mois.or(annees.map(|a| a * 12)),
        obtention_diplome: item.boolean("obtention_diplome_formation"),
        date_obtention_diplome: item.date("date_obtention_diplome_formation", today),
        date_exclusion: item.date("date_exclusion_formation", today),
        cause_exclusion: item.label("cause_exclusion_formation", Texte::Libelle),
        presentielle: item.boolean("formation_presentielle"),
    })
}

/// Two contracts with the same start day are the same contract: the later one's values win, its empty
/// ones erase nothing.
fn add_contrat(contrats: &mut Vec<Contrat>, contrat: Contrat) {
    match contrats.iter_mut().find(|c| c.date_debut == contrat.date_debut) {
        Some(same) => {
            same.date_fin = contrat.date_fin.or(same.date_fin);
            same.date_rupture = contrat.date_rupture.or(same.date_rupture);
            same.cause_rupture = contrat.cause_rupture.or(same.cause_rupture.take());
            same.siret_employeur = contrat.siret_employeur.or(same.siret_employeur.take());
        }
        None => contrats.push(contrat),
    }
}

fn contrats(item: &mut Item<'_>, today: NaiveDate) -> Vec<Contrat> {
    let mut contrats = Vec::new();
    for suffix in CONTRACT_SUFFIXES {
        let field = |name: &str| format!("{name}{suffix}");
        let debut = item.date(&field("contrat_date_debut"), today);
        let fin = item.date(&field("contrat_date_fin"), today);
        let rupture = item.date(&field("contrat_date_rupture"), today);
        let cause = item.label(&field("cause_rupture_contrat"), Texte::Libelle);
        if let (Some(debut), Some(fin)) = (debut, fin)
            && fin < debut
        {
            item.refuse(
                &field("contrat_date_fin"),
                format!("la fin du contrat ne peut précéder son début ({debut})"),
            );
            continue;
        }
        let siret_employeur = item.lenient(&field("siret_employeur"), Siret::parse);
        match debut {
            Some(date_debut) => add_contrat(
                &mut contrats,
                Contrat {
                    date_debut,
                    date_fin: fin,
                    date_rupture: rupture,
                    cause_rupture: cause,
                    siret_employeur,
                },
            ),
            None if item.errors.iter().any(|e| e.path == field("contrat_date_debut")) => {}
            None if fin.is_some() || rupture.is_some() || cause.is_some() => {
                let named = [
                    ("contrat_date_fin", fin.is_some()),
                    ("contrat_date_rupture", rupture.is_some()),
                    ("cause_rupture_contrat", cause.is_some()),
                ];
                for (name, present) in named {
                    if present {
                        item.refuse(
                            &field(name),
                            format!(
                                "renseigné sans date de début de contrat ({})",
                                field("contrat_date_debut")
                            ),
                        );
                    }
                }
                item.refuse(
                    &field("contrat_date_debut"),
                    "obligatoire quand une date de fin, de rupture ou une cause de rupture est renseignée",
                );
            }
            None => {}
        }
    }
    contrats
}

fn organisme(item: &mut Item<'_>, prefix: &str) -> Option<OrganismeRef> {
    let uai = item.required(&format!("{prefix}_uai"), Uai::parse);
    let siret = item.required(&format!("{prefix}_siret"), Siret::parse);
    Some(OrganismeRef { uai: uai?, siret: siret? })
}

fn lieu(item: &mut Item<'_>) -> Option<LieuDeFormation> {
    let lieu = LieuDeFormation {
        uai: item.parsed("etablissement_lieu_de_formation_uai", Uai::parse),
        siret: item.parsed("etablissement_lieu_de_formation_siret", Siret::parse),
        adresse: item.label("etablissement_lieu_de_formation_adresse", Texte::Adresse),
        code_postal: item.parsed("etablissement_lieu_de_formation_code_postal", CodePostal::parse),
    };
    let empty =
        lieu.uai.is_none() && lieu.siret.is_none() && lieu.adresse.is_none() && lieu.code_postal.is_none();
    (!empty).then_some(lieu)
}

fn referent(item: &mut Item<'_>) -> Option<ReferentHandicap> {
    let referent = ReferentHandicap {
        nom: item.label("nom_referent_handicap_formation", Texte::Nom),
        prenom: item.label("prenom_referent_handicap_formation", Texte::Nom),
        email: item.parsed("email_referent_handicap_formation", Email::parse),
    };
    (referent.nom.is_some() || referent.prenom.is_some() || referent.email.is_some()).then_some(referent)
}

/// What an accepted item is told although nothing was refused: a NIR that is not one (it is ignored,
/// as every NIR: only whether one was sent is kept), a commune code the referential does not know (kept
/// as sent, but no Mission Locale can be found for it).
pub fn warnings(item: &Value) -> Vec<FieldError> {
    let mut warnings = Vec::new();
    let Some(fields) = item.as_object() else { return warnings };
    let text = |field: &str| match fields.get(field) {
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let Some(nir) = text("nir_apprenant").filter(|n| !n.is_empty()) {
        let digits: String = nir.chars().filter(|c| !c.is_whitespace()).collect();
        let corse = digits.len() == 15 && matches!(digits.get(5..7), Some("2A" | "2B"));
        let shaped = matches!(digits.len(), 13 | 15) && (corse || digits.bytes().all(|b| b.is_ascii_digit()));
        if !shaped {
            warnings.push(FieldError::new(
                "nir_apprenant",
                "ignoré : un NIR comporte 13 ou 15 chiffres (il n'est jamais conservé)",
            ));
        }
    }
    for field in ["code_commune_insee_apprenant", "code_commune_insee_de_naissance_apprenant"] {
        let code = text(field).and_then(|c| CodeInsee::parse(&c).ok());
        if let Some(code) = code.filter(|c| events::domain::communes::commune(c.as_str()).is_none()) {
            warnings.push(FieldError::new(
                field,
                format!("commune {code} inconnue du référentiel : conservée, sans Mission Locale"),
            ));
        }
    }
    warnings
}

/// The previous organisme: a UAI, a département code, or 990/991/993/995 (abroad, unknown, ...).
fn dernier_organisme(raw: &str) -> Result<String, Invalid> {
    if let Ok(uai) = Uai::parse(raw) {
        return Ok(uai.to_string());
    }
    let value = raw.trim().to_uppercase();
    let departement = events::domain::territoire::departement(&value).is_some();
    if departement || ["990", "991", "993", "995"].contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(Invalid::new(
            "dernier_organisme_uai doit être un UAI, le code d'un département (01, 2A, 974…) ou 990, 991, 993, 995",
        ))
    }
}

#[cfg(test)]
#[path = "v3_tests.rs"]
mod tests;
