//! Which parts of which events are personal data, and how they are sealed in the stored JSON.
//!
//! A personal value is replaced in `data` by `{"personne": K, "scelle": base64(nonce ‖ ciphertext)}`,
//! encrypted with ChaCha20-Poly1305 under the person's data key, the person, event type and path bound
//! as associated data. The nonce is derived from the key and the plaintext (HMAC-SHA-256, synthetic-IV
//! style), so sealing the same value twice gives the same text: an exact retry of an append is still
//! recognised as one, and an unchanged dossier still hashes the same. Once a person's key is destroyed
//! the value reads as its `erased` placeholder, whose shape the event types accept.
//!
//! `reste` keeps in clear what the indicators need from a sealed value at a lower precision: the birth
//! month of a learner (see `personnel_reste`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};

/// The data key of one person.
pub type DataKey = [u8; 32];

/// One personal part of an event type: its path in `data` (dot-separated; empty for the whole data)
/// and what it reads as once erased (`None`: the field is absent).
pub struct Personal {
    pub event_type: &'static str,
    pub path: &'static str,
    erased: fn(Option<&Value>) -> Option<Value>,
}

/// Every personal part of every event type the log holds. A new event type carrying personal data adds
/// its rows here; `tests::erased_dossier_events_still_decode` checks the placeholders of the dossier
/// events.
pub const PERSONAL: &[Personal] = &[
    Personal { event_type: "InscriptionEnregistree", path: "personnel", erased: personnel_efface },
    Personal { event_type: "InscriptionEnregistree", path: "personne.ine", erased: absent },
    Personal { event_type: "CoordonneesModifiees", path: "", erased: |_| Some(json!({})) },
    Personal { event_type: "IdentiteModifiee", path: "personnel", erased: personnel_efface },
    Personal { event_type: "IdentiteModifiee", path: "personne.ine", erased: absent },
    Personal {
        event_type: "VoeuFormule",
        path: "candidat",
        erased: |_| Some(json!({ "nom": "", "prenoms": "", "efface": true })),
    },
    Personal { event_type: "SituationRenseignee", path: "commentaire", erased: absent },
    Personal { event_type: "SituationRenseignee", path: "situation_autre", erased: absent },
    Personal { event_type: "SituationRenseignee", path: "probleme_detail", erased: absent },
    Personal { event_type: "SuiviConjointDemande", path: "commentaire", erased: absent },
    Personal { event_type: "SuiviConjointDemande", path: "telephone_verifie", erased: absent },
    Personal { event_type: "SuiviConjointDemande", path: "commentaires_motifs", erased: absent },
    Personal { event_type: "SuiviConjointDemande", path: "cause_rupture", erased: absent },
    Personal { event_type: "SuiviConjointDemande", path: "referent", erased: absent },
    Personal { event_type: "SuiviConjointDemande", path: "email_verifie", erased: absent },
    Personal { event_type: "SuiviConjointDemande", path: "adresse_verifiee", erased: absent },
    Personal { event_type: "MessageEnvoye", path: "texte", erased: absent },
    Personal { event_type: "PartageRefuse", path: "motif", erased: absent },
    Personal { event_type: "SituationFranceTravailRenseignee", path: "commentaire", erased: absent },
    Personal { event_type: "ContratDecaEnregistre", path: "contrat.apprenti", erased: apprenti_deca_efface },
];

fn absent(_: Option<&Value>) -> Option<Value> {
    None
}

/// An erased learner: no name, no contact, no INE; born on the first day of the birth month kept in
/// clear (or unknown, 1 January 1900, for values sealed without it).
fn personnel_efface(reste: Option<&Value>) -> Option<Value> {
    let mois = reste.and_then(|r| r.get("mois_de_naissance")).and_then(Value::as_str).unwrap_or("1900-01");
    Some(json!({
        "nom": "",
        "prenom": "",
        "date_de_naissance": format!("{mois}-01"),
        "coordonnees": {},
        "efface": true,
    }))
}

/// An erased DECA apprentice: as an erased learner, born on the first day of the birth month kept.
fn apprenti_deca_efface(reste: Option<&Value>) -> Option<Value> {
    let mois = reste.and_then(|r| r.get("mois_de_naissance")).and_then(Value::as_str).unwrap_or("1900-01");
    Some(json!({ "nom": "", "prenom": "", "date_de_naissance": format!("{mois}-01"), "efface": true }))
}

/// What of a learner's personal data stays in clear: the month of birth (`YYYY-MM`).
fn reste(event_type: &str, path: &str, value: &Value) -> Option<Value> {
    let learner = matches!(event_type, "InscriptionEnregistree" | "IdentiteModifiee") && path == "personnel";
    let deca = event_type == "ContratDecaEnregistre" && path == "contrat.apprenti";
    if !learner && !deca {
        return None;
    }
    let naissance = value.get("date_de_naissance")?.as_str()?;
    Some(json!({ "mois_de_naissance": naissance.get(..7)? }))
}

/// The personal parts of an event type.
pub fn parts(event_type: &str) -> impl Iterator<Item = &'static Personal> + '_ {
    PERSONAL.iter().filter(move |p| p.event_type == event_type)
}

pub fn has_personal_data(event_type: &str) -> bool {
    parts(event_type).next().is_some()
}

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("{path}: sealed value is not valid base64")]
    Encoding { path: String },
    #[error("{path}: the person's key does not open this value (wrong key, or altered ciphertext)")]
    Decrypt { path: String },
    #[error("{path}: the opened value is not JSON")]
    Json { path: String },
}

fn aad(personne: &str, event_type: &str, path: &str) -> Vec<u8> {
    format!("tba-personnel-v1\u{1f}{personne}\u{1f}{event_type}\u{1f}{path}").into_bytes()
}

fn at_mut<'v>(data: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    if path.is_empty() {
        return Some(data);
    }
    path.split('.').try_fold(data, |v, segment| v.as_object_mut()?.get_mut(segment))
}

/// Whether a stored value is a sealed one, and for whom.
pub fn sealed_for(value: &Value) -> Option<&str> {
    let object = value.as_object()?;
    if !object.contains_key("scelle") && !object.contains_key("efface_avant_scellement") {
        return None;
    }
    object.get("personne")?.as_str()
}

fn at<'v>(data: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(data);
    }
    path.split('.').try_fold(data, |v, segment| v.as_object()?.get(segment))
}

/// The persons whose sealed values `data` (of `event_type`) holds.
pub fn persons_in(event_type: &str, data: &Value) -> Vec<String> {
    parts(event_type).filter_map(|p| at(data, p.path).and_then(sealed_for).map(str::to_owned)).collect()
}

/// Seal every personal part of `data` for `personne`. `key` is `None` when the person was erased:
/// then the values are not stored at all, only what stays in clear.
pub fn seal(event_type: &str, data: &mut Value, personne: &str, key: Option<&DataKey>) {
    for part in parts(event_type) {
        let Some(value) = at_mut(data, part.path) else { continue };
        if value.is_null() || sealed_for(value).is_some() {
            continue;
        }
        let mut sealed = Map::new();
        sealed.insert("personne".into(), Value::String(personne.to_owned()));
        if let Some(reste) = reste(event_type, part.path, value) {
            sealed.insert("reste".into(), reste);
        }
        match key {
            Some(key) => {
                let plaintext = serde_json::to_vec(value).expect("JSON values serialise");
                let bytes = encrypt(key, &aad(personne, event_type, part.path), &plaintext);
                sealed.insert("scelle".into(), Value::String(B64.encode(bytes)));
            }
            None => {
                sealed.insert("efface_avant_scellement".into(), Value::Bool(true));
            }
        }
        *value = Value::Object(sealed);
    }
}

/// Open every sealed part of `data`, with `key_of` giving each person's data key (`None`: erased, the
/// part reads as its placeholder).
pub fn unseal(
    event_type: &str,
    data: &mut Value,
    key_of: impl Fn(&str) -> Option<DataKey>,
) -> Result<(), SealError> {
    for part in parts(event_type) {
        let Some(value) = at_mut(data, part.path) else { continue };
        let Some(personne) = sealed_for(value).map(str::to_owned) else { continue };
        let opened = match (value.get("scelle").and_then(Value::as_str), key_of(&personne)) {
            (Some(sealed), Some(key)) => Some(open(&key, sealed, &personne, event_type, part.path)?),
            _ => None,
        };
        match opened {
            Some(v) => *value = v,
            None => {
                let placeholder = (part.erased)(value.get("reste"));
                replace_or_remove(data, part.path, placeholder);
            }
        }
    }
    Ok(())
}

fn open(
    key: &DataKey,
    sealed: &str,
    personne: &str,
    event_type: &str,
    path: &str,
) -> Result<Value, SealError> {
    let bytes = B64.decode(sealed).map_err(|_| SealError::Encoding { path: path.into() })?;
    let plaintext = decrypt(key, &aad(personne, event_type, path), &bytes)
        .ok_or_else(|| SealError::Decrypt { path: path.into() })?;
    serde_json::from_slice(&plaintext).map_err(|_| SealError::Json { path: path.into() })
}

/// `nonce ‖ ciphertext` of `plaintext` under `key`, bound to `aad`. The nonce is derived from the key,
/// the associated data and the plaintext (synthetic IV): the same value sealed twice gives the same
/// bytes. Read models that keep personal data sealed under the person's key use it too, each with
/// associated data of its own (`decrypt` with another refuses the value).
pub fn encrypt(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(aad);
    mac.update(&[0]);
    mac.update(plaintext);
    let tag = mac.finalize().into_bytes();
    let nonce = Nonce::from(<[u8; 12]>::try_from(&tag[..12]).expect("HMAC-SHA-256 gives 32 bytes"));
    let ciphertext = ChaCha20Poly1305::new(key.into())
        .encrypt(&nonce, Payload { msg: plaintext, aad })
        .expect("ChaCha20-Poly1305 encrypts any length we store");
    [&tag[..12], &ciphertext].concat()
}

/// The plaintext of `encrypt`'s bytes, if `key` and `aad` are those they were sealed with.
pub fn decrypt(key: &DataKey, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(12);
    ChaCha20Poly1305::new(key.into())
        .decrypt(
            &Nonce::from(<[u8; 12]>::try_from(nonce).expect("split at 12")),
            Payload { msg: ciphertext, aad },
        )
        .ok()
}

fn replace_or_remove(data: &mut Value, path: &str, placeholder: Option<Value>) {
    match (path.rsplit_once('.'), placeholder) {
        (_, Some(v)) => {
            if let Some(slot) = at_mut(data, path) {
                *slot = v;
            }
        }
        (None, None) if path.is_empty() => *data = json!({}),
        (None, None) => {
            if let Some(object) = data.as_object_mut() {
                object.remove(path);
            }
        }
        (Some((parent, field)), None) => {
            if let Some(object) = at_mut(data, parent).and_then(Value::as_object_mut) {
                object.remove(field);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inscription() -> Value {
        json!({
            "id_erp_apprenant": "E1",
            "personne": { "identite": "p-1", "ine": "1234567890A" },
            "personnel": {
                "nom": "Martin", "prenom": "Léa", "date_de_naissance": "2007-03-14",
                "coordonnees": { "email": "lea@example.org" }
            }
        })
    }

    #[test]
    fn sealed_data_holds_no_personal_value_and_opens_back() {
        let key = [7u8; 32];
        let mut data = inscription();
        seal("InscriptionEnregistree", &mut data, "p-1", Some(&key));
        let text = data.to_string();
        for secret in ["Martin", "Léa", "2007-03-14", "lea@example.org", "1234567890A"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(data["personnel"]["reste"]["mois_de_naissance"], "2007-03");
        assert_eq!(data["id_erp_apprenant"], "E1");
        assert_eq!(persons_in("InscriptionEnregistree", &data), ["p-1", "p-1"]);

        let mut again = inscription();
        seal("InscriptionEnregistree", &mut again, "p-1", Some(&key));
        assert_eq!(again, data, "sealing is deterministic");

        unseal("InscriptionEnregistree", &mut data, |_| Some(key)).expect("opens");
        assert_eq!(data, inscription());
    }

    #[test]
    fn another_key_or_another_place_does_not_open_a_value() {
        let mut data = inscription();
        seal("InscriptionEnregistree", &mut data, "p-1", Some(&[7; 32]));
        let mut wrong = data.clone();
        assert!(unseal("InscriptionEnregistree", &mut wrong, |_| Some([8; 32])).is_err());
        // A sealed value moved to another person's event does not open there either.
        let mut moved = data.clone();
        moved["personnel"]["personne"] = json!("p-2");
        assert!(unseal("InscriptionEnregistree", &mut moved, |_| Some([7; 32])).is_err());
    }

    #[test]
    fn an_erased_person_reads_as_the_placeholders() {
        let mut data = inscription();
        seal("InscriptionEnregistree", &mut data, "p-1", Some(&[7; 32]));
        unseal("InscriptionEnregistree", &mut data, |_| None).expect("placeholders");
        assert_eq!(data["personnel"]["nom"], "");
        assert_eq!(data["personnel"]["date_de_naissance"], "2007-03-01");
        assert_eq!(data["personnel"]["efface"], true);
        assert_eq!(data["personne"], json!({ "identite": "p-1" }));

        let mut never = inscription();
        seal("InscriptionEnregistree", &mut never, "p-1", None);
        assert!(!never.to_string().contains("Martin"));
        unseal("InscriptionEnregistree", &mut never, |_| Some([7; 32])).expect("placeholders");
        assert_eq!(never, data, "sealed after erasure reads as erased");

        let mut coordonnees = json!({ "email": "lea@example.org" });
        seal("CoordonneesModifiees", &mut coordonnees, "p-1", Some(&[7; 32]));
        unseal("CoordonneesModifiees", &mut coordonnees, |_| None).expect("placeholder");
        assert_eq!(coordonnees, json!({}));
    }

    #[test]
    fn erased_dossier_events_still_decode() {
        use crate::dossier::DossierEvent;
        let identite = json!({
            "personne": { "identite": "p-2", "ine": "1234567890A" },
            "personnel": { "nom": "MARTIN", "prenom": "Léa", "date_de_naissance": "2010-01-01", "ine": "1234567890A" },
            "apprenant": { "sexe": "F", "has_nir": false },
        });
        let mut inscription = crate::dossier::tests::inscription_data();
        for (event_type, data) in [
            ("IdentiteModifiee", identite.clone()),
            ("InscriptionEnregistree", inscription.take()),
            ("CoordonneesModifiees", json!({ "email": "lea@example.org" })),
        ] {
            let mut sealed = data.clone();
            seal(event_type, &mut sealed, "p-2", Some(&[7; 32]));
            unseal(event_type, &mut sealed, |_| None).expect("placeholders");
            let erased = DossierEvent::decode(event_type, 1, &sealed).expect("an erased event decodes");
            if let DossierEvent::IdentiteModifiee(i) = erased {
                assert!(i.personnel.efface);
                assert_eq!(i.personnel.date_de_naissance.to_string(), "2010-01-01");
                assert_eq!(i.personnel.ine, None);
                assert_eq!(i.personne.identite, "p-2");
            }
        }
    }

    #[test]
    fn an_erased_deca_contract_still_decodes_with_its_birth_month() {
        let mut data = json!({
            "contrat": {
                "numero": "C-1", "siret_employeur": "55210055400013",
                "organisme": { "uai": "0693456K", "siret": "12345678901234" },
                "apprenti": { "nom": "MARTIN", "prenom": "Léa", "date_de_naissance": "2006-03-14",
                              "email": "lea@example.org", "code_postal": "69003" },
                "date_debut": "2025-09-01", "date_fin_prevue": "2027-06-30",
            },
            "personne": "p-2",
            "empreinte": "e",
        });
        seal("ContratDecaEnregistre", &mut data, "p-2", Some(&[7; 32]));
        assert!(!data.to_string().contains("MARTIN") && !data.to_string().contains("69003"));
        unseal("ContratDecaEnregistre", &mut data, |_| None).expect("placeholders");
        let erased: crate::deca::ContratDecaEnregistre = serde_json::from_value(data).expect("decodes");
        assert!(erased.contrat.apprenti.efface);
        assert_eq!(erased.contrat.apprenti.date_de_naissance.to_string(), "2006-03-01");
        assert_eq!(erased.contrat.apprenti.code_postal, None);
    }

    #[test]
    fn events_without_personal_data_are_left_alone() {
        let mut data = json!({ "date_debut": "2026-09-01" });
        seal("ContratSigne", &mut data, "p-1", Some(&[7; 32]));
        assert_eq!(data, json!({ "date_debut": "2026-09-01" }));
        assert!(!has_personal_data("ContratSigne"));
    }
}
