//! `POST /api/v3/dossiers-apprenants`: the ERP push, in the format today's ERPs send (domain.md §3).
//! A whole-request problem (not JSON, not an array, more than 2000 items, bad key) is a 4xx; otherwise
//! every item gets its own result and the push is written to the transmission journal. The v3 dossier
//! is described to OpenAPI from its field table here, whose fields are read loosely (numbers as text,
//! dates with a time), with the rules of domain.md §3.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use events::Channel;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use super::caller::Caller;
use super::error::{ApiError, ErrorBody, Refusals};
use crate::app::AppState;
use crate::ingestion::journal::{ItemOutcome, Totals};
use crate::ingestion::snapshots;

/// At most this many dossiers per request, as today.
pub const MAX_ITEMS: usize = 2000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PushResponse {
    pub transmission_id: Uuid,
    #[serde(flatten)]
    pub totals: Totals,
    pub results: Vec<ItemOutcome>,
}

/// Transmit up to 2000 dossiers; each gets its own result, only what changed becomes events.
///
/// Bounds (a refusal names the field and the limit): identifiers such as `id_erp_apprenant` 100
/// characters, names 150, labels and addresses 500, comments 5,000, no control characters (but line
/// breaks in addresses); free text must be a JSON string; every day of the dossier's life from
/// 1990-01-01 to ten years ahead; a learner 13 to 100 years old when the session starts; a contract
/// that does not end before it starts. A NIR that is not 13 or 15 digits, or a commune unknown to the
/// referential, is taken with a warning (`warnings`).
#[utoipa::path(
    post,
    path = "/api/v3/dossiers-apprenants",
    tag = "ingestion",
    request_body(content = Vec<DossierApprenantV3>, description = "Au plus 2000 dossiers"),
    responses(
        (status = 200, description = "Un résultat par dossier, dans l'ordre d'envoi", body = PushResponse),
        Refusals,
        (status = 413, description = "Plus de 2000 dossiers, ou corps trop volumineux", body = ErrorBody)
    ),
    security(("cle_api" = []))
)]
pub async fn push(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<PushResponse>, ApiError> {
    let (transmission, transmitter) = caller.transmitting(Channel::ApiV3, "transmettre de dossiers")?;
    let items = items(&body)?;
    let journal = snapshots::Journal { transmission: &transmission, open: true, lines: None };
    let results = snapshots::ingest(&state.store, &transmitter, transmission.id, &items, journal).await?;
    let totals = Totals::of(&results);
    totals.record_metrics(transmission.channel);
    Ok(Json(PushResponse { transmission_id: transmission.id, totals, results }))
}

/// The body as a JSON array of at most `MAX_ITEMS` items.
fn items(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("le corps de la requête n'est pas du JSON valide : {e}"))
    })?;
    let Value::Array(items) = value else {
        return Err(ApiError::bad_request(
            "le corps de la requête doit être un tableau JSON de dossiers apprenants",
        ));
    };
    if items.len() > MAX_ITEMS {
        return Err(ApiError::TooLarge(format!(
            "{} dossiers dans la requête : {MAX_ITEMS} au plus par requête, découpez l'envoi",
            items.len()
        )));
    }
    Ok(items)
}

/// One dossier of an ERP push (or one row of a deposited file), in today's v3 field format.
pub struct DossierApprenantV3;

/// How a field is written: its JSON type, its format, whether it is required, and its rule.
type Field = (&'static str, Kind, bool, &'static str);

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Date,
    DateTime,
    Integer,
    Boolean,
}

const FIELDS: &[Field] = &[
    ("nom_apprenant", Kind::Text, true, "Nom ; espaces retirés, mis en MAJUSCULES"),
    ("prenom_apprenant", Kind::Text, true, "Prénom"),
    ("date_de_naissance_apprenant", Kind::Date, true, "AAAA-MM-JJ (un préfixe de date-heure est accepté)"),
    ("annee_scolaire", Kind::Text, true, "AAAA-AAAA, années égales ou consécutives (« / » accepté)"),
    ("id_erp_apprenant", Kind::Text, true, "Identifiant de l'apprenant dans l'ERP (un nombre est accepté)"),
    (
        "statut_apprenant",
        Kind::Integer,
        false,
        "0 abandon, 2 inscrit, 3 apprenti ; 0 daté devient une exclusion",
    ),
    ("date_metier_mise_a_jour_statut", Kind::DateTime, false, "Date de la mise à jour du statut"),
    ("ine_apprenant", Kind::Text, false, "INE : 9 chiffres + 2 lettres, ou 10 alphanumériques + 1 lettre"),
    ("nir_apprenant", Kind::Text, false, "Jamais conservé : seule sa présence est notée"),
    ("email_contact", Kind::Text, false, "Adresse e-mail de l'apprenant"),
    (
        "tel_apprenant",
        Kind::Text,
        false,
        "Téléphone ; séparateurs retirés, numéros français (DOM compris) vérifiés",
    ),
    ("adresse_apprenant", Kind::Text, false, "Adresse de résidence"),
    ("code_postal_apprenant", Kind::Text, false, "Code postal ; complété à 5 chiffres"),
    (
        "code_commune_insee_apprenant",
        Kind::Text,
        false,
        "Commune de résidence (INSEE : 2 chiffres ou 2A/2B + 3 chiffres)",
    ),
    ("code_commune_insee_de_naissance_apprenant", Kind::Text, false, "Commune de naissance (INSEE)"),
    (
        "code_postal_de_naissance_apprenant",
        Kind::Text,
        false,
        "Code postal de naissance ; 99 + code pays à l'étranger",
    ),
    ("sexe_apprenant", Kind::Text, false, "M ou F (H et 1 → M ; 2 → F)"),
    ("rqth_apprenant", Kind::Boolean, false, "Reconnaissance de la qualité de travailleur handicapé"),
    ("date_rqth_apprenant", Kind::Date, false, "Date de la RQTH"),
    ("responsable_apprenant_mail1", Kind::Text, false, "E-mail du premier représentant légal"),
    ("responsable_apprenant_mail2", Kind::Text, false, "E-mail du second représentant légal"),
    ("derniere_situation", Kind::Integer, false, "Code SIFA de la situation N-1 ; 0 → absent"),
    (
        "dernier_organisme_uai",
        Kind::Text,
        false,
        "UAI, code d'un département du référentiel (01, 2A, 974…), ou 990/991/993/995",
    ),
    ("type_cfa", Kind::Text, false, "01 à 10"),
    ("custom_statut_apprenant", Kind::Text, false, "Libellé libre, affiché seulement"),
    ("libelle_court_formation", Kind::Text, false, "Libellé court de la formation"),
    (
        "annee_formation",
        Kind::Integer,
        false,
        "Année dans le cursus, 0 à 5 (0 est une année ; absent : non renseignée)",
    ),
    ("formation_rncp", Kind::Text, false, "RNCP + 2 à 5 chiffres (préfixe ajouté s'il manque)"),
    ("formation_cfd", Kind::Text, false, "Code formation diplôme : 8 caractères [A-Z0-9]"),
    ("date_inscription_formation", Kind::Date, true, "Date d'inscription"),
    ("date_entree_formation", Kind::Date, true, "Début de la session (détermine le statut)"),
    ("date_fin_formation", Kind::Date, true, "Fin de la session ; pas avant l'entrée"),
    ("duree_theorique_formation", Kind::Integer, false, "Durée en années (1 à 4) ; invalide → absent"),
    ("duree_theorique_formation_mois", Kind::Integer, false, "Durée en mois (1 à 48) ; invalide → absent"),
    ("obtention_diplome_formation", Kind::Boolean, false, "Diplôme obtenu"),
    ("date_obtention_diplome_formation", Kind::Date, false, "Date d'obtention du diplôme"),
    ("date_exclusion_formation", Kind::Date, false, "Date d'exclusion (abandon)"),
    ("cause_exclusion_formation", Kind::Text, false, "Cause de l'exclusion"),
    ("formation_presentielle", Kind::Boolean, false, "Formation en présentiel"),
    ("contrat_date_debut", Kind::Date, false, "Début du contrat (aussi _2, _3, _4 : jusqu'à 4 contrats)"),
    ("contrat_date_fin", Kind::Date, false, "Fin prévue ; exige la date de début"),
    ("contrat_date_rupture", Kind::Date, false, "Date de rupture ; exige la date de début"),
    ("cause_rupture_contrat", Kind::Text, false, "Cause de la rupture ; exige la date de début"),
    ("siret_employeur", Kind::Text, false, "SIRET de l'employeur (14 chiffres ; invalide → absent)"),
    ("etablissement_responsable_uai", Kind::Text, true, "UAI : 7 chiffres + 1 lettre ; connu du référentiel"),
    ("etablissement_responsable_siret", Kind::Text, true, "SIRET : 14 chiffres, séparateurs retirés"),
    ("etablissement_formateur_uai", Kind::Text, true, "UAI de l'organisme formateur (identité du dossier)"),
    ("etablissement_formateur_siret", Kind::Text, true, "SIRET de l'organisme formateur"),
    ("etablissement_lieu_de_formation_uai", Kind::Text, false, "UAI du lieu de formation"),
    ("etablissement_lieu_de_formation_siret", Kind::Text, false, "SIRET du lieu de formation"),
    ("etablissement_lieu_de_formation_adresse", Kind::Text, false, "Adresse du lieu de formation"),
    ("etablissement_lieu_de_formation_code_postal", Kind::Text, false, "Code postal du lieu de formation"),
    ("nom_referent_handicap_formation", Kind::Text, false, "Référent handicap : nom"),
    ("prenom_referent_handicap_formation", Kind::Text, false, "Référent handicap : prénom"),
    ("email_referent_handicap_formation", Kind::Text, false, "Référent handicap : e-mail"),
];

impl PartialSchema for DossierApprenantV3 {
    fn schema() -> RefOr<Schema> {
        let mut object = ObjectBuilder::new().schema_type(Type::Object).description(Some(
            "Un dossier apprenant au format v3. Une valeur vide n'efface rien ; les nombres peuvent être \
             envoyés en texte et inversement. Les colonnes d'un fichier déposé portent ces mêmes noms.",
        ));
        for (name, kind, required, rule) in FIELDS {
            let (schema_type, format) = match kind {
                Kind::Text => (Type::String, None),
                Kind::Date => (Type::String, Some(KnownFormat::Date)),
                Kind::DateTime => (Type::String, Some(KnownFormat::DateTime)),
                Kind::Integer => (Type::Integer, None),
                Kind::Boolean => (Type::Boolean, None),
            };
            let property = ObjectBuilder::new()
                .schema_type(schema_type)
                .format(format.map(SchemaFormat::KnownFormat))
                .description(Some(*rule));
            object = object.property(*name, property);
            if *required {
                object = object.required(*name);
            }
        }
        RefOr::T(Schema::Object(object.build()))
    }
}

impl ToSchema for DossierApprenantV3 {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingestion::v3::REQUIRED_FIELDS;

    #[test]
    fn the_documented_required_fields_are_those_the_reader_requires() {
        let mut documented: Vec<&str> = FIELDS.iter().filter(|f| f.2).map(|f| f.0).collect();
        let mut required = REQUIRED_FIELDS.to_vec();
        documented.sort_unstable();
        required.sort_unstable();
        assert_eq!(documented, required);
    }
}
