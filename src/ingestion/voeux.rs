//! `tba voeux import --source affelnet|parcoursup FILE` and `POST /api/v1/voeux/imports`: a file of
//! vœux (CSV, `;`, UTF-8 or Windows-1252, one row per vœu; columns in `columns`) into the log.
//!
//! The file is read twice from disk, never whole in memory: first every row is checked (a refused value
//! refuses the file, and nothing is written; the report names each line and column), then it is read
//! again and written CHUNK rows at a time, each chunk in one transaction with the import's own index
//! (`voeux`): a new vœu, or one whose content changed, becomes a `VoeuFormule` event on its candidate's
//! stream; an unchanged one writes nothing. Last, every vœu of the file's campaigns (source, académie,
//! rentrée) that the file no longer holds is withdrawn by a `VoeuRetire` event; vœux of other académies,
//! rentrées or sources are never touched. Imports run one at a time. An import cut short (crash,
//! SIGTERM) has written whole chunks only; importing the same file again completes it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::Path;

use chrono::{Datelike, NaiveDate, Utc};
use events::domain::territoire::academie_nom;
use events::domain::{Cfd, CodeInsee, CodePostal, Email, Ine, Rncp, Telephone, Uai};
use events::limits::Texte;
use events::personal::Vault;
use events::store::append_in_transaction;
use events::voeu::{self, Candidat, FormationVisee, Source, VoeuEvent, VoeuFormule, VoeuRetire};
use events::{AppendRequest, ExpectedVersion, Metadata, NewEvent};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::imports::csv_reader;
use super::referential::RowError;

/// Rows written per transaction.
const CHUNK: usize = 5000;
/// Refusals kept for the report (the count says how many there were).
const KEPT_ERRORS: usize = 1000;

/// The columns of a source's file: those the header must have, and those it may have besides
/// `OPTIONAL`.
pub struct Columns {
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
}

/// The columns every source's file may have: contacts, residence, the formation's codes and name, the
/// organisme responsable.
pub const OPTIONAL: &[&str] = &[
    "email",
    "telephone",
    "email_responsable",
    "telephone_responsable",
    "adresse",
    "code_postal",
    "code_commune_insee",
    "cfd",
    "rncp",
    "libelle_formation",
    "uai_responsable",
];

/// What each source's file holds (README, "Vœux").
pub fn columns(source: Source) -> Columns {
    match source {
        Source::Affelnet => Columns {
            required: &[
                "academie",
                "ine",
                "nom",
                "prenom1",
                "cle_formation",
                "uai_formateur",
                "rang",
                "rentree",
            ],
            optional: &["prenom2", "prenom3", "date_naissance"],
        },
        Source::Parcoursup => Columns {
            required: &[
                "academie",
                "ine",
                "nom",
                "prenoms",
                "date_naissance",
                "code_formation",
                "uai_formateur",
                "rentree",
            ],
            optional: &["rang"],
        },
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VoeuxImportError {
    /// Refused values (at most `KEPT_ERRORS` of them) and how many there were in all.
    #[error("{1} refused value(s)")]
    Invalid(Vec<RowError>, usize),
    /// The file as a whole cannot be read.
    #[error("{0}")]
    File(String),
    /// Another import of vœux is running.
    #[error("un import de vœux est déjà en cours ; réessayez quand il sera terminé")]
    Busy,
    #[error("the log refused a vœu: {0}")]
    Append(#[from] events::AppendError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Store(#[from] events::StoreError),
}

impl From<super::imports::DossiersImportError> for VoeuxImportError {
    fn from(error: super::imports::DossiersImportError) -> Self {
        VoeuxImportError::File(error.to_string())
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Report {
    pub import_id: i64,
    /// Rows read.
    pub lignes: u64,
    /// New vœux (or vœux formulated again after a withdrawal).
    pub formules: u64,
    pub modifies: u64,
    pub inchanges: u64,
    /// Vœux of the file's campaigns it no longer holds.
    pub retires: u64,
    /// The campaigns the file holds (académie, rentrée); only their vœux can be withdrawn.
    pub campagnes: Vec<CampagneFichier>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
pub struct CampagneFichier {
    pub academie: String,
    pub rentree: i32,
}

/// A file's header: where each known column is.
struct Header {
    position: HashMap<&'static str, usize>,
}

impl Header {
    /// `names`: the header's column names, trimmed and in lower case.
    fn read(source: Source, names: &[String]) -> Result<Header, VoeuxImportError> {
        let cols = columns(source);
        let missing: Vec<RowError> = cols
            .required
            .iter()
            .filter(|c| !names.iter().any(|n| n == *c))
            .map(|c| {
                RowError::new(
                    1,
                    c,
                    format!("colonne manquante pour {source} (attendues : {})", cols.required.join(";")),
                )
            })
            .collect();
        if !missing.is_empty() {
            let count = missing.len();
            return Err(VoeuxImportError::Invalid(missing, count));
        }
        let position = cols
            .required
            .iter()
            .chain(cols.optional)
            .chain(OPTIONAL)
            .filter_map(|c| names.iter().position(|n| n == c).map(|i| (*c, i)))
            .collect();
        Ok(Header { position })
    }

    fn get<'r>(&self, record: &'r csv::StringRecord, column: &str) -> &'r str {
        self.position.get(column).and_then(|&i| record.get(i)).map_or("", str::trim)
    }
}

/// A birth date as files write them: `YYYY-MM-DD` or `DD/MM/YYYY`.
fn date(raw: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%d/%m/%Y"))
        .map_err(|_| format!("{raw:?} n'est pas une date (AAAA-MM-JJ ou JJ/MM/AAAA)"))
}

/// A row read: the vœu, and its candidate's id.
type Lu = (VoeuFormule, String);

/// Read one row into a vœu, or say every value it refuses.
fn parse_row(
    source: Source,
    header: &Header,
    record: &csv::StringRecord,
    line: u64,
) -> Result<Lu, Vec<RowError>> {
    let mut errors = Vec::new();
    let get = |column: &str| header.get(record, column);
    let mut refuse = |column: &str, message: String| errors.push(RowError::new(line, column, message));
    macro_rules! optional {
        ($column:literal, $parse:expr) => {{
            let raw = get($column);
            if raw.is_empty() {
                None
            } else {
                match $parse(raw) {
                    Ok(value) => Some(value),
                    Err(e) => {
                        refuse($column, e.to_string());
                        None
                    }
                }
            }
        }};
    }
    let academie = {
        let raw = get("academie");
        let code = if raw.len() == 1 { format!("0{raw}") } else { raw.to_owned() };
        if academie_nom(&code).is_none() {
            refuse("academie", format!("{raw:?} n'est pas un code d'académie connu"));
        }
        code
    };
    let rentree = match get("rentree").parse::<i32>() {
        Ok(year) if (2000..=2100).contains(&year) => year,
        _ => {
            refuse("rentree", format!("{:?} n'est pas une année de rentrée (ex. 2026)", get("rentree")));
            0
        }
    };
    let nom = get("nom").to_owned();
    if nom.is_empty() {
        refuse("nom", "ne doit pas être vide".into());
    }
    let prenoms = match source {
        Source::Affelnet => ["prenom1", "prenom2", "prenom3"]
            .iter()
            .map(|c| get(c))
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Source::Parcoursup => get("prenoms").to_owned(),
    };
    if get(if source == Source::Affelnet { "prenom1" } else { "prenoms" }).is_empty() {
        refuse(
            if source == Source::Affelnet { "prenom1" } else { "prenoms" },
            "ne doit pas être vide".into(),
        );
    }
    let date_de_naissance = optional!("date_naissance", date);
    if source == Source::Parcoursup && get("date_naissance").is_empty() {
        refuse("date_naissance", "ne doit pas être vide".into());
    }
    if let Some(d) = date_de_naissance
        && rentree > 0
        && !(rentree - 40..=rentree - 10).contains(&d.year())
    {
        refuse(
            "date_naissance",
            format!("{d} : le candidat aurait moins de 10 ou plus de 40 ans à la rentrée"),
        );
    }
    let ine = optional!("ine", Ine::parse);
    let email = optional!("email", Email::parse);
    let telephone = optional!("telephone", Telephone::parse);
    let email_responsable = optional!("email_responsable", Email::parse);
    let telephone_responsable = optional!("telephone_responsable", Telephone::parse);
    let code_postal = optional!("code_postal", CodePostal::parse);
    let code_commune_insee = optional!("code_commune_insee", CodeInsee::parse);
    let adresse = Some(get("adresse").to_owned()).filter(|a| !a.is_empty());
    let cfd = optional!("cfd", Cfd::parse);
    let rncp = optional!("rncp", Rncp::parse);
    let libelle = Some(get("libelle_formation").to_owned()).filter(|l| !l.is_empty());
    let key_column = if source == Source::Affelnet { "cle_formation" } else { "code_formation" };
    let cle = Some(get(key_column).to_owned())
        .filter(|c| !c.is_empty())
        .or_else(|| cfd.as_ref().map(ToString::to_string))
        .or_else(|| rncp.as_ref().map(ToString::to_string));
    if cle.is_none() && get("cfd").is_empty() && get("rncp").is_empty() {
        refuse(key_column, "la formation doit être désignée (clé, CFD ou code RNCP)".into());
    }
    let free_text = [
        ("nom", Texte::Nom),
        ("prenom1", Texte::Nom),
        ("prenom2", Texte::Nom),
        ("prenom3", Texte::Nom),
        ("prenoms", Texte::Nom),
        ("adresse", Texte::Adresse),
        ("libelle_formation", Texte::Libelle),
        (key_column, Texte::Identifiant),
    ];
    for (column, famille) in free_text {
        if let Err(invalid) = famille.check(get(column)) {
            refuse(column, invalid.to_string());
        }
    }
    let uai_formateur = match Uai::parse(get("uai_formateur")) {
        Ok(uai) => Some(uai),
        Err(e) => {
            refuse("uai_formateur", e.to_string());
            None
        }
    };
    let uai_responsable = optional!("uai_responsable", Uai::parse);
    let rang = match (source, get("rang")) {
        (Source::Parcoursup, "") => None,
        (_, raw) => match raw.parse::<i32>() {
            Ok(rang) if (1..=99).contains(&rang) => Some(rang),
            _ => {
                refuse("rang", format!("{raw:?} n'est pas un rang de 1 à 99"));
                None
            }
        },
    };
    let candidat = Candidat {
        nom,
        prenoms,
        date_de_naissance,
        ine,
        email,
        telephone,
        email_responsable,
        telephone_responsable,
        adresse,
        code_postal,
        code_commune_insee,
        efface: false,
    };
    let id = candidat.id();
    if id.is_none() && get("ine").is_empty() && get("date_naissance").is_empty() {
        refuse("ine", "l'INE ou la date de naissance est nécessaire pour distinguer le candidat".into());
    }
    match (errors.is_empty(), id, cle, uai_formateur) {
        (true, Some(id), Some(cle), Some(uai_formateur)) => Ok((
            VoeuFormule {
                voeu: voeu::voeu_id(source, rentree, &id, &cle, &uai_formateur),
                source,
                rentree,
                academie,
                rang,
                formation: FormationVisee { cle, cfd, rncp, libelle },
                uai_formateur,
                uai_responsable,
                candidat,
            },
            id,
        )),
        _ => Err(errors),
    }
}

/// What the first reading of a file found: refusals, its rows, campaigns and digest.
struct Checked {
    errors: Vec<RowError>,
    error_count: usize,
    lignes: u64,
    campagnes: BTreeSet<CampagneFichier>,
    sha256: String,
}

/// Read `path` row by row; `each` gets every row's line and what it reads into; stops when `each`
/// says so.
fn read_file(
    source: Source,
    path: &Path,
    mut each: impl FnMut(u64, Result<Lu, Vec<RowError>>) -> bool,
) -> Result<(), VoeuxImportError> {
    let file = File::open(path)
        .map_err(|e| VoeuxImportError::File(format!("lecture du fichier impossible : {e}")))?;
    let (mut reader, names) = csv_reader(path, file)?;
    let header = Header::read(source, &names)?;
    let mut record = csv::StringRecord::new();
    let mut line = 1;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                line += 1;
                if record.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                if !each(line, parse_row(source, &header, &record, line)) {
                    return Ok(());
                }
            }
            Err(e) => {
                let error = RowError::new(line + 1, "ligne", format!("CSV illisible : {e}"));
                return Err(VoeuxImportError::Invalid(vec![error], 1));
            }
        }
    }
}

/// The SHA-256 of a file, read in blocks.
fn sha256(path: &Path) -> Result<String, VoeuxImportError> {
    let failed = |e: std::io::Error| VoeuxImportError::File(format!("lecture du fichier impossible : {e}"));
    let mut file = File::open(path).map_err(failed)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer).map_err(failed)?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

/// The first reading: every row checked, nothing kept but the vœux' ids (to refuse a vœu twice).
fn check(source: Source, path: &Path, progress: &(dyn Fn(u64) + Sync)) -> Result<Checked, VoeuxImportError> {
    let mut checked = Checked {
        errors: Vec::new(),
        error_count: 0,
        lignes: 0,
        campagnes: BTreeSet::new(),
        sha256: sha256(path)?,
    };
    let mut first_line: HashMap<String, u64> = HashMap::new();
    read_file(source, path, |line, row| {
        checked.lignes += 1;
        let mut refuse = |errors: Vec<RowError>| {
            checked.error_count += errors.len();
            let room = KEPT_ERRORS.saturating_sub(checked.errors.len());
            checked.errors.extend(errors.into_iter().take(room));
        };
        match row {
            Ok((v, _)) => {
                if let Some(first) = first_line.get(&v.voeu) {
                    refuse(vec![RowError::new(
                        line,
                        "ligne",
                        format!("le même vœu (candidat, formation, organisme) est déjà ligne {first}"),
                    )]);
                } else {
                    checked
                        .campagnes
                        .insert(CampagneFichier { academie: v.academie.clone(), rentree: v.rentree });
                    first_line.insert(v.voeu, line);
                }
            }
            Err(errors) => refuse(errors),
        }
        if checked.lignes.is_multiple_of(10_000) {
            progress(checked.lignes);
        }
        true
    })?;
    progress(checked.lignes);
    if checked.lignes == 0 {
        return Err(VoeuxImportError::File("le fichier ne contient aucune ligne de données".into()));
    }
    Ok(checked)
}

/// Import the file at `path` (named `nom` in the journal); `progress` is told the phase and how many
/// rows are done.
pub async fn import(
    pool: &PgPool,
    vault: Option<&Vault>,
    source: Source,
    path: &Path,
    nom: &str,
    metadata: Metadata,
    progress: impl Fn(Phase, u64) + Send + Sync + 'static,
) -> Result<Report, VoeuxImportError> {
    let progress = std::sync::Arc::new(progress);
    let started = std::time::Instant::now();
    let checked = {
        let (path, progress) = (path.to_owned(), progress.clone());
        tokio::task::spawn_blocking(move || check(source, &path, &|n| progress(Phase::Verification, n)))
            .await
            .map_err(|e| VoeuxImportError::File(format!("la lecture du fichier a échoué : {e}")))??
    };
    if checked.error_count > 0 {
        return Err(VoeuxImportError::Invalid(checked.errors, checked.error_count));
    }
    // One import at a time: the lock is the session's, released when this connection closes.
    let mut lock = pool.acquire().await?.detach();
    let locked: bool =
        sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock(hashtext('tba:voeux-import')) AS "l!""#)
            .fetch_one(&mut lock)
            .await?;
    if !locked {
        return Err(VoeuxImportError::Busy);
    }
    let campagnes: Vec<CampagneFichier> = checked.campagnes.iter().cloned().collect();
    let import_id = sqlx::query_scalar!(
        "INSERT INTO voeux_imports (source, fichier, nom, principal, debut, campagnes)
         VALUES ($1, $2, $3, $4, now(), $5) RETURNING id",
        source.as_str(),
        checked.sha256,
        nom,
        format!("{}/{}", metadata.actor.organisation, metadata.actor.principal),
        serde_json::to_value(&campagnes).expect("campaigns serialise to JSON"),
    )
    .fetch_one(pool)
    .await?;
    let mut report = Report { import_id, lignes: checked.lignes, campagnes, ..Report::default() };
    let today = Utc::now().date_naive();
    let event = move |e: VoeuEvent| {
        NewEvent::new(e.event_type(), e.data()).occurred_at(today).with_metadata(metadata.clone())
    };
    tracing::info!(rows = checked.lignes, seconds = started.elapsed().as_secs_f64(), "vœux file checked");

    // What the index holds of the file's campaigns: each vœu the file holds is taken out of it as it is
    // read, and what is left is withdrawn.
    let academies: Vec<String> = report.campagnes.iter().map(|c| c.academie.clone()).collect();
    let rentrees: Vec<i32> = report.campagnes.iter().map(|c| c.rentree).collect();
    let mut known: HashMap<String, Connu> = sqlx::query!(
        "SELECT voeu, candidat, academie, rentree, digest FROM voeux
         WHERE source = $1 AND NOT retire
           AND (academie, rentree) IN (SELECT * FROM unnest($2::text[], $3::int[]))",
        source.as_str(),
        &academies,
        &rentrees,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        (r.voeu, Connu { candidat: r.candidat, academie: r.academie, rentree: r.rentree, digest: r.digest })
    })
    .collect();

    // Second reading: the rows, CHUNK at a time, from a blocking reader that also makes their events
    // (so that this happens while the previous chunk is written).
    let (sender, mut receiver) = mpsc::channel::<Vec<Ecrit>>(2);
    let reader = {
        let (path, event) = (path.to_owned(), event.clone());
        tokio::task::spawn_blocking(move || {
            let mut chunk = Vec::with_capacity(CHUNK);
            let result = read_file(source, &path, |_, row| {
                if let Ok((v, candidat)) = row {
                    let digest = v.digest();
                    chunk.push(Ecrit::formule(v, candidat, digest, &event));
                }
                if chunk.len() == CHUNK {
                    return sender.blocking_send(std::mem::take(&mut chunk)).is_ok();
                }
                true
            });
            if !chunk.is_empty() {
                let _ = sender.blocking_send(chunk);
            }
            result
        })
    };
    let mut done = 0;
    while let Some(chunk) = receiver.recv().await {
        done += chunk.len() as u64;
        let mut changed = Vec::with_capacity(chunk.len());
        for e in chunk {
            match known.remove(&e.index.voeu) {
                Some(k) if Some(&k.digest) == e.index.digest.as_ref() => report.inchanges += 1,
                Some(_) => {
                    report.modifies += 1;
                    changed.push(e);
                }
                None => {
                    report.formules += 1;
                    changed.push(e);
                }
            }
        }
        write(pool, vault, changed).await?;
        progress(Phase::Ecriture, done);
    }
    reader.await.map_err(|e| VoeuxImportError::File(format!("la lecture du fichier a échoué : {e}")))??;
    tracing::info!(rows = done, seconds = started.elapsed().as_secs_f64(), "vœux written");

    // Last, the vœux of the file's campaigns it no longer holds: those left of what was known.
    let mut absent: Vec<(String, Connu)> = known.into_iter().collect();
    absent.sort_by(|a, b| a.0.cmp(&b.0));
    report.retires = absent.len() as u64;
    for part in absent.chunks(CHUNK) {
        let withdrawals = part
            .iter()
            .map(|(voeu, k)| {
                let retire = VoeuRetire {
                    voeu: voeu.clone(),
                    source,
                    rentree: k.rentree,
                    academie: k.academie.clone(),
                    fichier: checked.sha256.clone(),
                };
                Ecrit::retrait(retire, k.candidat.clone(), &event)
            })
            .collect();
        write(pool, vault, withdrawals).await?;
    }
    sqlx::query!(
        "UPDATE voeux_imports SET termine = now(), lignes = $2, formules = $3, modifies = $4, inchanges = $5,
                                  retires = $6
         WHERE id = $1",
        import_id,
        report.lignes as i64,
        report.formules as i64,
        report.modifies as i64,
        report.inchanges as i64,
        report.retires as i64,
    )
    .execute(pool)
    .await?;
    tracing::info!(withdrawn = report.retires, seconds = started.elapsed().as_secs_f64(), "vœux import done");
    sqlx::query_scalar!(r#"SELECT pg_advisory_unlock(hashtext('tba:voeux-import')) AS "u!""#)
        .fetch_one(&mut lock)
        .await?;
    Ok(report)
}

/// A vœu of the file's campaigns, as the index knows it.
struct Connu {
    candidat: String,
    academie: String,
    rentree: i32,
    digest: String,
}

/// The phases of an import, for its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Verification,
    Ecriture,
}

/// One vœu's event and its index row.
struct Ecrit {
    index: IndexRow,
    event: NewEvent,
}

/// A row of the import's index (`voeux`); `digest` none for a withdrawal.
struct IndexRow {
    candidat: String,
    voeu: String,
    source: Source,
    rentree: i32,
    academie: String,
    digest: Option<String>,
}

impl Ecrit {
    fn formule(
        v: VoeuFormule,
        candidat: String,
        digest: String,
        event: &impl Fn(VoeuEvent) -> NewEvent,
    ) -> Ecrit {
        let (voeu, source, rentree, academie) = (v.voeu.clone(), v.source, v.rentree, v.academie.clone());
        // Sealed under the person key when there is one, so that erasing the person erases the vœu.
        let personne = v.candidat.personne().map_or_else(|| candidat.clone(), |p| p.identite);
        let mut event = event(VoeuEvent::Formule(Box::new(v)));
        event.personne = Some(personne);
        let index = IndexRow { candidat, voeu, source, rentree, academie, digest: Some(digest) };
        Ecrit { index, event }
    }

    fn retrait(r: VoeuRetire, candidat: String, event: &impl Fn(VoeuEvent) -> NewEvent) -> Ecrit {
        let (voeu, source, rentree, academie) = (r.voeu.clone(), r.source, r.rentree, r.academie.clone());
        let event = event(VoeuEvent::Retire(r));
        Ecrit { index: IndexRow { candidat, voeu, source, rentree, academie, digest: None }, event }
    }
}

/// Append the events (one request per candidate) and record them in the index, in one transaction.
async fn write(pool: &PgPool, vault: Option<&Vault>, rows: Vec<Ecrit>) -> Result<(), VoeuxImportError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut by_candidat: BTreeMap<String, (Vec<IndexRow>, Vec<NewEvent>)> = BTreeMap::new();
    for Ecrit { index, event } in rows {
        let (indexes, events) = by_candidat.entry(index.candidat.clone()).or_default();
        indexes.push(index);
        events.push(event);
    }
    let (requests, rows): (Vec<AppendRequest>, Vec<Vec<IndexRow>>) = by_candidat
        .into_iter()
        .map(|(candidat, (indexes, events))| {
            (AppendRequest::new(voeu::stream_id(&candidat), ExpectedVersion::Any, events), indexes)
        })
        .unzip();
    let mut tx = pool.begin().await?;
    let outcomes = append_in_transaction(&mut tx, vault, requests).await?;
    let mut index: Vec<(&IndexRow, i64)> = Vec::new();
    for (rows, outcome) in rows.iter().zip(outcomes) {
        let outcome = outcome?;
        index.extend(rows.iter().zip(outcome.positions));
    }
    let col = |f: &dyn Fn(&IndexRow) -> String| index.iter().map(|(r, _)| f(r)).collect::<Vec<_>>();
    sqlx::query!(
        "INSERT INTO voeux (voeu, source, rentree, academie, candidat, digest, retire, position)
         SELECT voeu, source, rentree, academie, candidat, coalesce(digest, ''), digest IS NULL, position
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::bigint[])
           AS r (voeu, source, rentree, academie, candidat, digest, position)
         ON CONFLICT (voeu) DO UPDATE SET academie = excluded.academie, candidat = excluded.candidat,
             digest = CASE WHEN excluded.retire THEN voeux.digest ELSE excluded.digest END,
             retire = excluded.retire, position = excluded.position",
        &col(&|r| r.voeu.clone()),
        &col(&|r| r.source.as_str().to_owned()),
        &index.iter().map(|(r, _)| r.rentree).collect::<Vec<_>>(),
        &col(&|r| r.academie.clone()),
        &col(&|r| r.candidat.clone()),
        &index.iter().map(|(r, _)| r.digest.clone()).collect::<Vec<_>>() as &[Option<String>],
        &index.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFFELNET: &str = "academie;ine;nom;prenom1;prenom2;date_naissance;email;telephone;cle_formation;cfd;\
                            uai_formateur;rang;rentree";

    fn parse(source: Source, text: &str) -> Vec<Result<VoeuFormule, Vec<RowError>>> {
        let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(text.as_bytes());
        let names: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
        let header = match Header::read(source, &names) {
            Ok(header) => header,
            Err(VoeuxImportError::Invalid(errors, _)) => return vec![Err(errors)],
            Err(e) => panic!("{e}"),
        };
        reader
            .records()
            .enumerate()
            .map(|(i, r)| parse_row(source, &header, &r.expect("record"), i as u64 + 2).map(|(v, _)| v))
            .collect()
    }

    #[test]
    fn an_affelnet_row_reads_into_a_voeu_of_its_candidate() {
        let rows = parse(
            Source::Affelnet,
            &format!(
                "{AFFELNET}\n10;;Le Goff;Léa;Marie;14/03/2011;lea@example.org;06 12 34 56 78;AFF-1;50025004;\
                 0693045k;1;2026\n"
            ),
        );
        let v = rows[0].as_ref().expect("valid");
        assert_eq!(v.candidat.prenoms, "Léa, Marie");
        assert_eq!(v.candidat.date_de_naissance, NaiveDate::from_ymd_opt(2011, 3, 14));
        assert_eq!(v.uai_formateur.as_str(), "0693045K");
        assert_eq!(v.formation.cle, "AFF-1");
        assert_eq!((v.rang, v.rentree, v.academie.as_str()), (Some(1), 2026, "10"));
        assert_eq!(v.candidat.id(), v.candidat.personne().map(|p| p.identite));
    }

    #[test]
    fn every_refused_value_is_named_by_its_line_and_column() {
        let rows = parse(
            Source::Affelnet,
            &format!(
                "{AFFELNET}\n99;;;Léa;;31/02/2011;pas-un-mail;;;;0693045;0;26\n10;;Martin;Léo;;;;;AFF-1;;0693045K;1;2026\n"
            ),
        );
        let fields: Vec<&str> =
            rows[0].as_ref().expect_err("refused").iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "academie",
                "rentree",
                "nom",
                "date_naissance",
                "email",
                "cle_formation",
                "uai_formateur",
                "rang"
            ]
        );
        let unknown = rows[1].as_ref().expect_err("no INE nor birth date");
        assert_eq!((unknown[0].line, unknown[0].field.as_str()), (3, "ine"));
        let missing = parse(Source::Parcoursup, "academie;nom\n10;Martin\n");
        let columns: Vec<&str> =
            missing[0].as_ref().expect_err("header").iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            columns,
            ["ine", "prenoms", "date_naissance", "code_formation", "uai_formateur", "rentree"]
        );
    }
}
