//! The first reading of a vœux file: every row checked, its campaigns and its digest, before anything
//! is written.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::Path;

use events::voeu::Source;
use sha2::{Digest, Sha256};

use crate::ingestion::imports::csv_reader;
use crate::ingestion::referential::RowError;

use super::columns::{Header, Lu, parse_row};
use super::{CampagneFichier, KEPT_ERRORS, VoeuxImportError};

/// What the first reading of a file found: refusals, its rows, campaigns and digest.
pub(super) struct Checked {
    pub(super) errors: Vec<RowError>,
    pub(super) error_count: usize,
    pub(super) lignes: u64,
    pub(super) campagnes: BTreeSet<CampagneFichier>,
    pub(super) sha256: String,
}

/// Read `path` row by row; `each` gets every row's line and what it reads into; stops when `each`
/// says so.
pub(super) fn read_file(
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
pub(super) fn sha256(path: &Path) -> Result<String, VoeuxImportError> {
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
pub(super) fn check(
    source: Source,
    path: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Checked, VoeuxImportError> {
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
