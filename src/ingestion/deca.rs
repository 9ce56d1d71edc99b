//! `tba deca import FILE.csv`: an extract of DECA, the national base of apprenticeship contracts
//! (domain.md §13). DECA extracts have no public format: this module defines one, and is the only place
//! that reads it, so that a real extract's columns map here.
//!
//! The format: a CSV (`,` or `;`, UTF-8), one row per contract, with the header
//! `numero_contrat, siret_employeur, opco, uai_organisme, siret_organisme, cfd, rncp, nom, prenom,
//! date_de_naissance, ine, email, telephone, adresse, code_postal, code_commune_insee, date_debut,
//! date_fin_prevue, date_rupture, cause_rupture` (dates `YYYY-MM-DD` or `DD/MM/YYYY`; `opco`, `cfd` or
//! `rncp` (one of them), `ine`, contacts, address, `date_rupture` and its cause may be empty). An extract
//! is the whole base as it stands: every row is checked before anything is written; then, in one
//! transaction, each new or changed contract gets a `ContratDecaEnregistre` on its stream (the
//! apprentice's data sealed under their person key), and each contract an earlier extract held that
//! this one does not, a `ContratDecaRetire`. Re-importing the same extract writes nothing.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use chrono::{NaiveDate, Utc};
use events::deca::{
    ApprentiDeca, CONTRAT_DECA_ENREGISTRE, CONTRAT_DECA_RETIRE, ContratDeca, ContratDecaEnregistre,
    ContratDecaRetire, stream_id,
};
use events::domain::{Cfd, CodeInsee, CodePostal, Email, Ine, OrganismeRef, Rncp, Siret, Telephone, Uai};
use events::dossier::PersonKey;
use events::limits::Texte;
use events::personal::Vault;
use events::store::append_in_transaction;
use events::{AppendRequest, ExpectedVersion, Metadata, NewEvent};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::referential::{RowError, optional};

pub const COLUMNS: [&str; 20] = [
    "numero_contrat",
    "siret_employeur",
    "opco",
    "uai_organisme",
    "siret_organisme",
    "cfd",
    "rncp",
    "nom",
    "prenom",
    "date_de_naissance",
    "ine",
    "email",
    "telephone",
    "adresse",
    "code_postal",
    "code_commune_insee",
    "date_debut",
    "date_fin_prevue",
    "date_rupture",
    "cause_rupture",
];

/// A checked row: the contract, its person, its fingerprint.
pub type Ligne = ContratDecaEnregistre;

fn date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%d/%m/%Y"))
        .map_err(|_| format!("{text:?} n'est pas une date (AAAA-MM-JJ ou JJ/MM/AAAA)"))
}

/// Read and check the whole extract; any refused value refuses it.
pub fn parse_csv(input: impl Read) -> Result<Vec<Ligne>, Vec<RowError>> {
    let mut bytes = Vec::new();
    let mut input = input;
    input.read_to_end(&mut bytes).map_err(|e| vec![RowError::new(0, "file", e.to_string())])?;
    // A semicolon extract (what French spreadsheets write) reads as a comma one.
    let header_end = bytes.iter().position(|b| *b == b'\n').unwrap_or(bytes.len());
    let semicolons = bytes[..header_end].iter().filter(|b| **b == b';').count();
    let commas = bytes[..header_end].iter().filter(|b| **b == b',').count();
    let text = if semicolons > commas { semicolon_to_comma(&bytes)? } else { bytes };
    let (sheet, mut errors) = super::referential::read(text.as_slice(), &COLUMNS)?;
    let mut lignes = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for row in sheet.rows() {
        let line = row.line;
        let before = errors.len();
        let mut refuse = |field: &str, message: String| errors.push(RowError::new(line, field, message));
        let get = |c: &str| row.get(c).to_owned();
        let numero = get("numero_contrat");
        if numero.is_empty() {
            refuse("numero_contrat", "must not be empty".into());
        } else if let Err(e) = Texte::Identifiant.check(&numero) {
            refuse("numero_contrat", e.to_string());
        } else if let Some(first) = seen.insert(numero.clone(), line) {
            refuse("numero_contrat", format!("{numero} already on line {first}"));
        }
        let siret_employeur =
            Siret::parse(&get("siret_employeur")).map_err(|e| refuse("siret_employeur", e.to_string())).ok();
        let uai = Uai::parse(&get("uai_organisme")).map_err(|e| refuse("uai_organisme", e.to_string())).ok();
        let siret =
            Siret::parse(&get("siret_organisme")).map_err(|e| refuse("siret_organisme", e.to_string())).ok();
        let cfd = optional(&get("cfd"), Cfd::parse).map_err(|e| refuse("cfd", e)).ok();
        let rncp = optional(&get("rncp"), Rncp::parse).map_err(|e| refuse("rncp", e)).ok();
        if matches!((&cfd, &rncp), (Some(None), Some(None))) {
            refuse("cfd", "a CFD or an RNCP code names the formation".into());
        }
        let mut texte = |field: &str, famille: Texte, obligatoire: bool| {
            let value = get(field);
            if value.is_empty() {
                if obligatoire {
                    refuse(field, "must not be empty".into());
                }
                return None;
            }
            famille.check(&value).map_err(|e| refuse(field, e.to_string())).ok().map(|_| value)
        };
        let nom = texte("nom", Texte::Nom, true);
        let prenom = texte("prenom", Texte::Nom, true);
        let opco = texte("opco", Texte::Libelle, false);
        let adresse = texte("adresse", Texte::Adresse, false);
        let cause_rupture = texte("cause_rupture", Texte::Libelle, false);
        let naissance = date(&get("date_de_naissance")).map_err(|e| refuse("date_de_naissance", e)).ok();
        let ine = optional(&get("ine"), Ine::parse).map_err(|e| refuse("ine", e)).ok();
        let email = optional(&get("email"), Email::parse).map_err(|e| refuse("email", e)).ok();
        let telephone =
            Telephone::parse_optional(&get("telephone")).map_err(|e| refuse("telephone", e.to_string())).ok();
        let code_postal =
            optional(&get("code_postal"), CodePostal::parse).map_err(|e| refuse("code_postal", e)).ok();
        let code_commune_insee = optional(&get("code_commune_insee"), CodeInsee::parse)
            .map_err(|e| refuse("code_commune_insee", e))
            .ok();
        let debut = date(&get("date_debut")).map_err(|e| refuse("date_debut", e)).ok();
        let fin = date(&get("date_fin_prevue")).map_err(|e| refuse("date_fin_prevue", e)).ok();
        let rupture = match get("date_rupture").as_str() {
            "" => Some(None),
            text => date(text).map(Some).map_err(|e| refuse("date_rupture", e)).ok(),
        };
        if let (Some(d), Some(f)) = (debut, fin)
            && f < d
        {
            refuse("date_fin_prevue", format!("{f} is before the start {d}"));
        }
        if let (Some(d), Some(Some(r))) = (debut, rupture)
            && r < d
        {
            refuse("date_rupture", format!("{r} is before the start {d}"));
        }
        if errors.len() != before {
            continue;
        }
        let (Some(siret_employeur), Some(uai), Some(siret), Some(cfd), Some(rncp)) =
            (siret_employeur, uai, siret, cfd, rncp)
        else {
            continue;
        };
        let (Some(nom), Some(prenom), Some(naissance), Some(ine), Some(email), Some(telephone)) =
            (nom, prenom, naissance, ine, email, telephone)
        else {
            continue;
        };
        let (Some(code_postal), Some(code_commune_insee), Some(debut), Some(fin), Some(rupture)) =
            (code_postal, code_commune_insee, debut, fin, rupture)
        else {
            continue;
        };
        let personne = PersonKey::new(&nom, &prenom, naissance, ine.clone()).identite;
        let empreinte = hex::encode(Sha256::digest(
            COLUMNS.iter().map(|c| row.get(c)).collect::<Vec<_>>().join("\u{1f}").as_bytes(),
        ));
        lignes.push(ContratDecaEnregistre {
            contrat: ContratDeca {
                numero,
                siret_employeur,
                opco,
                organisme: OrganismeRef { uai, siret },
                cfd,
                rncp,
                apprenti: ApprentiDeca {
                    nom,
                    prenom,
                    date_de_naissance: naissance,
                    ine,
                    email,
                    telephone,
                    adresse,
                    code_postal: code_postal.map(|c| c.to_string()),
                    code_commune_insee: code_commune_insee.map(|c| c.to_string()),
                    efface: false,
                },
                date_debut: debut,
                date_fin_prevue: fin,
                date_rupture: rupture,
                cause_rupture,
            },
            personne,
            empreinte,
        });
    }
    if errors.is_empty() { Ok(lignes) } else { Err(errors) }
}

/// The extract's bytes with its semicolons as commas, its cells quoted as needed.
fn semicolon_to_comma(bytes: &[u8]) -> Result<Vec<u8>, Vec<RowError>> {
    let mut reader =
        csv::ReaderBuilder::new().delimiter(b';').has_headers(false).flexible(true).from_reader(bytes);
    let mut writer = csv::Writer::from_writer(Vec::new());
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| vec![RowError::new(i as u64 + 1, "file", e.to_string())])?;
        writer.write_record(&record).map_err(|e| vec![RowError::new(i as u64 + 1, "file", e.to_string())])?;
    }
    writer.into_inner().map_err(|e| vec![RowError::new(0, "file", e.to_string())])
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecaReport {
    pub read: usize,
    pub created: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub withdrawn: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DecaImportError {
    #[error(transparent)]
    Store(#[from] events::StoreError),
    #[error("the log refused a contract: {0}")]
    Append(#[from] events::AppendError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Record an extract, all in one transaction: new and changed contracts, and the withdrawal of those
/// it no longer holds.
pub async fn import(
    pool: &PgPool,
    vault: Option<&Vault>,
    lignes: Vec<Ligne>,
    metadata: Metadata,
) -> Result<DecaReport, DecaImportError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('deca import'))").execute(&mut *tx).await?;
    // Each contract's latest event: its fingerprint, or none once withdrawn.
    let known: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT DISTINCT ON (stream_id) stream_id, event_type, data->>'empreinte' FROM events
         WHERE category = 'deca' ORDER BY stream_id, version DESC",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut held: BTreeMap<String, Option<String>> = known
        .into_iter()
        .filter(|(_, event_type, _)| event_type == CONTRAT_DECA_ENREGISTRE)
        .map(|(stream, _, empreinte)| (stream, empreinte))
        .collect();
    let mut report = DecaReport { read: lignes.len(), ..DecaReport::default() };
    let today = Utc::now().date_naive();
    let mut requests = Vec::new();
    for ligne in lignes {
        let stream = stream_id(&ligne.contrat.numero);
        match held.remove(&stream) {
            Some(Some(empreinte)) if empreinte == ligne.empreinte => {
                report.unchanged += 1;
                continue;
            }
            Some(_) => report.changed += 1,
            None => report.created += 1,
        }
        let data = serde_json::to_value(&ligne).expect("contracts serialise to JSON");
        let event = NewEvent::new(CONTRAT_DECA_ENREGISTRE, data)
            .about(ligne.personne.clone())
            .occurred_at(ligne.contrat.date_rupture.unwrap_or(ligne.contrat.date_debut))
            .with_metadata(metadata.clone());
        requests.push(AppendRequest::new(stream, ExpectedVersion::Any, vec![event]));
    }
    for stream in held.into_keys() {
        report.withdrawn += 1;
        let numero = stream.strip_prefix("deca-").unwrap_or(&stream).to_owned();
        let data = serde_json::to_value(ContratDecaRetire { numero }).expect("serialises");
        let event =
            NewEvent::new(CONTRAT_DECA_RETIRE, data).occurred_at(today).with_metadata(metadata.clone());
        requests.push(AppendRequest::new(stream, ExpectedVersion::Any, vec![event]));
    }
    if requests.is_empty() {
        return Ok(report);
    }
    for result in append_in_transaction(&mut tx, vault, requests).await? {
        result?;
    }
    tx.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "numero_contrat,siret_employeur,opco,uai_organisme,siret_organisme,cfd,rncp,nom,prenom,\
                          date_de_naissance,ine,email,telephone,adresse,code_postal,code_commune_insee,date_debut,\
                          date_fin_prevue,date_rupture,cause_rupture\n";

    fn row(numero: &str, rupture: &str) -> String {
        format!(
            "{numero},55210055400013,OPCO EP,0693456K,12345678901234,50022137,,Martin,Léa,2006-03-14,,\
             lea@example.org,0612345678,1 rue de la Paix,69003,69383,2025-09-01,2027-06-30,{rupture},démission\n"
        )
    }

    #[test]
    fn an_extract_is_read_whole_with_its_person_and_fingerprint() {
        let lignes = parse_csv(format!("{HEADER}{}{}", row("C-1", ""), row("C-2", "2026-01-15")).as_bytes())
            .expect("valid");
        assert_eq!(lignes.len(), 2);
        let (a, b) = (&lignes[0], &lignes[1]);
        assert_eq!(a.personne, b.personne, "one person, two contracts");
        assert_eq!(b.contrat.date_rupture, NaiveDate::from_ymd_opt(2026, 1, 15));
        assert_ne!(a.empreinte, b.empreinte);
        let again = parse_csv(format!("{HEADER}{}", row("C-1", "")).as_bytes()).expect("valid");
        assert_eq!(again[0].empreinte, a.empreinte, "an unchanged row has the same fingerprint");
        // The same extract, semicolon-separated, reads the same.
        let semicolons = format!("{HEADER}{}", row("C-1", "")).replace(',', ";");
        assert_eq!(parse_csv(semicolons.as_bytes()).expect("valid")[0].contrat, a.contrat);
    }

    #[test]
    fn every_wrong_value_is_named_and_nothing_is_kept() {
        let bad = format!(
            "{HEADER}{}{}X-3,552,,0693456K,12345678901234,,,,Léa,14/03/2006,,pas-un-mail,,,,,2025-09-01,2025-01-01,2024-01-01,\n",
            row("C-1", ""),
            row("C-1", ""),
        );
        let errors = parse_csv(bad.as_bytes()).expect_err("refused");
        let fields: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(
            fields,
            [
                (3, "numero_contrat"),
                (4, "siret_employeur"),
                (4, "cfd"),
                (4, "nom"),
                (4, "email"),
                (4, "date_fin_prevue"),
                (4, "date_rupture"),
            ]
        );
    }
}
