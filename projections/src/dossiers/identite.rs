//! The learner's identity and contacts, kept in the dossier's row sealed under the person's data key
//! (`rm_dossiers.apprenant`), so that a page of dossiers shows who they are without folding each
//! dossier's events again. Erasure needs nothing more: once the person's key is destroyed the sealed
//! row opens no more and reads as erased, and the projection, which refolds an erased person's
//! dossiers, writes none again (NULL: the identity is then the log's, read as erased).
//!
//! A row holds no sealed identity either when the projection runs without the master key (its events
//! are in clear then, and so is everything that reads them): readers fold the dossier's events instead.

use std::collections::HashMap;

use chrono::NaiveDate;
use events::StoreError;
use events::deca::ApprentiDeca;
use events::dossier::event::Personnel;
use events::personal::{DataKey, Vault, seal};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// What the row keeps of a learner who is not erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identite {
    /// Family name, upper case for a DECA apprentice (as DECA's files spell it in any case).
    pub nom: String,
    pub prenom: String,
    pub date_de_naissance: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresse: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_postal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_commune_insee: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responsables_mails: Vec<String>,
}

/// How a row's sealed identity reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lue {
    Identite(Box<Identite>),
    /// The person's key is destroyed: nothing of them is readable.
    Effacee,
}

impl Identite {
    /// The identity of a dossier's learner (none once erased).
    pub fn of_personnel(p: &Personnel) -> Option<Identite> {
        let c = &p.coordonnees;
        (!p.efface).then(|| Identite {
            nom: p.nom.clone(),
            prenom: p.prenom.clone(),
            date_de_naissance: p.date_de_naissance,
            ine: p.ine.as_ref().map(ToString::to_string),
            email: c.email.as_ref().map(ToString::to_string),
            telephone: c.telephone.as_ref().map(ToString::to_string),
            adresse: c.adresse.clone(),
            code_postal: c.code_postal.as_ref().map(ToString::to_string),
            code_commune_insee: c.code_commune_insee.as_ref().map(ToString::to_string),
            responsables_mails: c.responsables_mails.iter().map(ToString::to_string).collect(),
        })
    }

    /// The identity of a DECA contract's apprentice (none once erased).
    pub fn of_apprenti(a: &ApprentiDeca) -> Option<Identite> {
        (!a.efface).then(|| Identite {
            nom: a.nom.to_uppercase(),
            prenom: a.prenom.clone(),
            date_de_naissance: a.date_de_naissance,
            ine: a.ine.as_ref().map(ToString::to_string),
            email: a.email.as_ref().map(ToString::to_string),
            telephone: a.telephone.as_ref().map(ToString::to_string),
            adresse: a.adresse.clone(),
            code_postal: a.code_postal.clone(),
            code_commune_insee: a.code_commune_insee.clone(),
            responsables_mails: Vec::new(),
        })
    }

    /// Sealed for the row of `dossier_id`, under `personne`'s key (the same identity gives the same
    /// bytes: a rebuild writes what the live projection wrote).
    pub fn seal(&self, key: &DataKey, personne: &str, dossier_id: &str) -> Vec<u8> {
        let plaintext = serde_json::to_vec(self).expect("an identity serialises");
        seal::encrypt(key, &aad(personne, dossier_id), &plaintext)
    }

    /// What `seal` gave, opened with the same key, person and dossier.
    pub fn open(sealed: &[u8], key: &DataKey, personne: &str, dossier_id: &str) -> Option<Identite> {
        let plaintext = seal::decrypt(key, &aad(personne, dossier_id), sealed)?;
        serde_json::from_slice(&plaintext).ok()
    }
}

fn aad(personne: &str, dossier_id: &str) -> Vec<u8> {
    format!("tba-rm-dossiers-apprenant-v1\u{1f}{personne}\u{1f}{dossier_id}").into_bytes()
}

/// Seal each `(dossier, person, identity)` under its person's key, read in one query: `None` for a
/// learner erased, or whose person has no key (nothing of them was ever sealed), or without a vault.
pub(super) async fn sceller(
    conn: &mut PgConnection,
    vault: Option<&Vault>,
    identites: &[(&str, &str, Option<&Identite>)],
) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
    let Some(vault) = vault else { return Ok(vec![None; identites.len()]) };
    let personnes: Vec<String> =
        identites.iter().filter(|(_, _, i)| i.is_some()).map(|(_, p, _)| (*p).to_owned()).collect();
    let keys = vault.keys(conn, &personnes).await?;
    Ok(identites
        .iter()
        .map(|(dossier, personne, identite)| {
            let key = keys.get(*personne).copied().flatten()?;
            Some(identite.as_ref()?.seal(&key, personne, dossier))
        })
        .collect())
}

/// How a row's sealed identity reads with its person's key (`None`: destroyed). A value that does not
/// open with its person's key is an error (the row was altered, or the master key is not the one that
/// wrapped the key).
pub fn lue(
    sealed: &[u8],
    key: Option<&DataKey>,
    personne: &str,
    dossier_id: &str,
) -> Result<Lue, StoreError> {
    match key {
        None => Ok(Lue::Effacee),
        Some(key) => {
            Identite::open(sealed, key, personne, dossier_id).map(|i| Lue::Identite(Box::new(i))).ok_or_else(
                || StoreError::Vault(format!("the identity kept for dossier {dossier_id} does not open")),
            )
        }
    }
}

/// The identities kept sealed in the rows of these dossiers, opened (rows and keys read in two
/// queries). Dossiers whose row keeps none are absent: their identity is in the log.
pub async fn lire(
    conn: &mut PgConnection,
    vault: &Vault,
    dossiers: &[String],
) -> Result<HashMap<String, Lue>, StoreError> {
    let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT dossier_id, personne, apprenant FROM rm_dossiers
         WHERE dossier_id = ANY($1) AND apprenant IS NOT NULL",
    )
    .bind(dossiers)
    .fetch_all(&mut *conn)
    .await?;
    let personnes: Vec<String> = rows.iter().map(|(_, p, _)| p.clone()).collect();
    let keys = vault.keys(conn, &personnes).await?;
    rows.into_iter()
        .map(|(dossier, personne, sealed)| {
            let key = keys.get(&personne).copied().flatten();
            Ok((dossier.clone(), lue(&sealed, key.as_ref(), &personne, &dossier)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identite() -> Identite {
        Identite {
            nom: "MARTIN".into(),
            prenom: "Léa".into(),
            date_de_naissance: NaiveDate::from_ymd_opt(2007, 3, 14).expect("a date"),
            ine: None,
            email: Some("lea@example.org".into()),
            telephone: Some("0601020304".into()),
            adresse: None,
            code_postal: Some("69003".into()),
            code_commune_insee: None,
            responsables_mails: vec!["parent@example.org".into()],
        }
    }

    #[test]
    fn a_sealed_identity_opens_only_for_its_person_and_dossier() {
        let key = [7u8; 32];
        let sealed = identite().seal(&key, "p-1", "d-1");
        assert_eq!(sealed, identite().seal(&key, "p-1", "d-1"), "sealing is deterministic");
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("MARTIN") && !text.contains("lea@"));
        assert_eq!(Identite::open(&sealed, &key, "p-1", "d-1"), Some(identite()));
        assert_eq!(Identite::open(&sealed, &[8; 32], "p-1", "d-1"), None);
        assert_eq!(Identite::open(&sealed, &key, "p-2", "d-1"), None);
        assert_eq!(Identite::open(&sealed, &key, "p-1", "d-2"), None);
    }
}
