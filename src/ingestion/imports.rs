//! Channel 3, the file deposit: a CSV (`;` or `,`, UTF-8 or Windows-1252) or XLSX file whose columns
//! are the v3 field names, read row by row from disk on a blocking thread and fed, 500 rows at a time,
//! through the same path as the ERP push (`snapshots::ingest`): same validation, same diff, same
//! idempotency. Only the rows in flight are in memory, whatever the size of the file. Refused rows go
//! to the transmission journal, from which the error report (CSV) is rendered.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::journal::{Rejet, Totals, Transmission};
use super::snapshots::{self, IngestError, Transmitter};
use super::{v3, xlsx};

/// Rows handed to the pipeline at once. A chunk, its parsed dossiers, their events and the statement
/// that appends them are in memory together, three chunks at most (the reader works ahead): 500 rows keep a
/// deposit's memory near a JSON push's, whatever the size of the file.
const CHUNK: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum DossiersImportError {
    /// The file as a whole cannot be read (format, encoding, header).
    #[error("{0}")]
    File(String),
    /// The file exceeds a limit of what a deposit may hold (named in the message).
    #[error("{0}")]
    Limit(String),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<xlsx::SheetError> for DossiersImportError {
    fn from(error: xlsx::SheetError) -> Self {
        match error {
            xlsx::SheetError::File(message) => DossiersImportError::File(message),
            xlsx::SheetError::Limit(message) => DossiersImportError::Limit(message),
        }
    }
}

/// One data row: its line in the file (the header is line 1) and its cells by column name.
struct Row {
    pub line: u64,
    pub item: Value,
}

/// Import the file at `path`; `progress` is told how many rows are done.
pub async fn run(
    store: &events::EventStore,
    transmitter: &Transmitter,
    transmission: &Transmission,
    path: &Path,
    progress: impl Fn(u64),
) -> Result<Totals, DossiersImportError> {
    let (tx, mut rx) = mpsc::channel::<Result<Vec<Row>, DossiersImportError>>(1);
    let file = path.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        if let Err(error) = read_rows(&file, &tx) {
            let _ = tx.blocking_send(Err(error));
        }
    });
    let mut totals = Totals::default();
    let mut opened = false;
    while let Some(chunk) = rx.recv().await {
        let rows = chunk?;
        let (lines, items): (Vec<i32>, Vec<Value>) =
            rows.into_iter().map(|r| (i32::try_from(r.line).unwrap_or(i32::MAX), r.item)).unzip();
        // Each chunk's events and its rows of the journal are written together.
        let journal = snapshots::Journal { transmission, open: !opened, lines: Some(&lines) };
        let outcomes = snapshots::ingest(store, transmitter, transmission.id, &items, journal).await?;
        opened = true;
        let part = Totals::of(&outcomes);
        totals.received += part.received;
        totals.accepted += part.accepted;
        totals.rejected += part.rejected;
        totals.events += part.events;
        progress(totals.received as u64);
    }
    reader.await.map_err(|e| DossiersImportError::File(format!("the file reader failed: {e}")))?;
    if !opened {
        return Err(DossiersImportError::File("le fichier ne contient aucune ligne de données".into()));
    }
    Ok(totals)
}

/// Read the file and send its rows in chunks; stops early if the receiver is gone.
fn read_rows(
    path: &Path,
    tx: &mpsc::Sender<Result<Vec<Row>, DossiersImportError>>,
) -> Result<(), DossiersImportError> {
    let io = |e: std::io::Error| DossiersImportError::File(format!("lecture du fichier impossible : {e}"));
    let mut file = File::open(path).map_err(io)?;
    let mut magic = [0u8; 4];
    let read = file.read(&mut magic).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut emit = |row: Row| -> bool {
        chunk.push(row);
        if chunk.len() == CHUNK {
            return tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_ok();
        }
        true
    };
    if read == 4 && magic == *b"PK\x03\x04" {
        drop(file);
        let mut columns: Option<Vec<String>> = None;
        xlsx::rows(path, &mut |line, values: Vec<(usize, String)>| match &columns {
            None => {
                let mut names = vec![String::new(); values.iter().map(|(c, _)| c + 1).max().unwrap_or(0)];
                for (column, name) in values {
                    names[column] = name.trim().to_lowercase();
                }
                check_header(&names)?;
                columns = Some(names);
                Ok::<_, DossiersImportError>(true)
            }
            Some(columns) => Ok(emit(Row { line, item: item(columns, values.into_iter()) })),
        })?;
    } else {
        csv_rows(path, file, &mut emit)?;
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Ok(chunk));
    }
    Ok(())
}

fn check_header(columns: &[String]) -> Result<(), DossiersImportError> {
    let missing: Vec<&str> =
        v3::REQUIRED_FIELDS.iter().copied().filter(|c| !columns.iter().any(|h| h == c)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DossiersImportError::File(format!(
            "colonnes obligatoires absentes de la première ligne : {} (les colonnes portent les noms des champs de l'API v3)",
            missing.join(", ")
        )))
    }
}

/// A row as the v3 reader takes it: each non-empty cell under its column's name.
fn item(columns: &[String], cells: impl Iterator<Item = (usize, String)>) -> Value {
    let mut fields = Map::new();
    for (column, value) in cells {
        if let Some(name) = columns.get(column).filter(|n| !n.is_empty())
            && !value.trim().is_empty()
        {
            fields.insert(name.clone(), Value::String(value));
        }
    }
    Value::Object(fields)
}

/// Send the CSV file's rows to `emit`: the header and every record are checked first (a first pass),
/// so that a refused file writes nothing.
fn csv_rows(path: &Path, file: File, emit: &mut impl FnMut(Row) -> bool) -> Result<(), DossiersImportError> {
    let (mut reader, columns) = csv_reader(path, file)?;
    check_header(&columns)?;
    let mut record = csv::StringRecord::new();
    let mut line = 1;
    while reader
        .read_record(&mut record)
        .map_err(|e| DossiersImportError::File(format!("CSV illisible : {e}")))?
    {
        line += 1;
        if record.len() > xlsx::MAX_COLUMNS as usize {
            return Err(DossiersImportError::Limit(format!(
                "ligne {line} : {} colonnes ; {} au plus",
                record.len(),
                xlsx::MAX_COLUMNS
            )));
        }
        if record.iter().any(|cell| cell.chars().count() > xlsx::MAX_CELL_CHARS) {
            return Err(DossiersImportError::Limit(format!(
                "ligne {line} : une cellule de plus de {} caractères",
                xlsx::MAX_CELL_CHARS
            )));
        }
    }
    let (mut reader, columns) =
        csv_reader(path, File::open(path).map_err(|e| DossiersImportError::File(e.to_string()))?)?;
    let mut record = csv::StringRecord::new();
    // Lines as a spreadsheet numbers them: the header is 1, the n-th record n + 1 (the reader's own
    // positions lag by one after a CRLF).
    let mut line = 1;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                line += 1;
                let cells = record.iter().map(str::to_owned).enumerate();
                if !emit(Row { line, item: item(&columns, cells) }) {
                    return Ok(());
                }
            }
            Err(e) => return Err(DossiersImportError::File(format!("CSV illisible : {e}"))),
        }
    }
}

/// A CSV reader of `file` (at `path`): decoded from UTF-8 when the whole file is valid UTF-8, else
/// from Windows-1252; `;` or `,` separated, whichever the first line has more of. With it, the names of
/// the header's columns, trimmed and in lower case. A file that is neither (UTF-16, binary), a record
/// longer than `MAX_RECORD_BYTES` or more than `xlsx::MAX_ROWS` records is refused before any is read.
pub fn csv_reader(
    path: &Path,
    file: File,
) -> Result<(csv::Reader<impl Read + use<>>, Vec<String>), DossiersImportError> {
    let utf8 = scan(path)?;
    let encoding = if utf8 { encoding_rs::UTF_8 } else { encoding_rs::WINDOWS_1252 };
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new().encoding(Some(encoding)).build(file);
    let mut decoded = BufReader::new(decoded);
    let mut first = String::new();
    std::io::BufRead::read_line(&mut decoded, &mut first)
        .map_err(|e| DossiersImportError::File(format!("première ligne illisible : {e}")))?;
    let delimiter = if first.matches(';').count() >= first.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(std::io::Cursor::new(first.into_bytes()).chain(decoded));
    let columns = reader
        .headers()
        .map_err(|e| DossiersImportError::File(format!("en-tête illisible : {e}")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    Ok((reader, columns))
}

/// The longest record (a line, or several within quotes) a CSV file may have, in bytes.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Read the whole file once, in blocks: whether it is valid UTF-8 (else it is read as Windows-1252),
/// refusing what no CSV of ours can be (UTF-16, NUL bytes) and records past the limits, so that the
/// CSV reader never buffers more than one bounded record.
fn scan(path: &Path) -> Result<bool, DossiersImportError> {
    let io = |e: std::io::Error| DossiersImportError::File(format!("lecture du fichier impossible : {e}"));
    let mut file = File::open(path).map_err(io)?;
    let mut buffer = vec![0u8; 64 * 1024];
    let (mut carried, mut utf8, mut first) = (0, true, true);
    let (mut quoted, mut record, mut records) = (false, 0usize, 0u64);
    loop {
        let read = file.read(&mut buffer[carried..]).map_err(io)?;
        if read == 0 {
            return Ok(utf8 && carried == 0);
        }
        let filled = carried + read;
        let fresh = &buffer[carried..filled];
        if first && (fresh.starts_with(&[0xFF, 0xFE]) || fresh.starts_with(&[0xFE, 0xFF]))
            || fresh.contains(&0)
        {
            return Err(DossiersImportError::File(
                "encodage non pris en charge (UTF-16 ou fichier binaire) : déposez un CSV en UTF-8 ou \
                 Windows-1252, ou un classeur XLSX"
                    .into(),
            ));
        }
        first = false;
        for &byte in fresh {
            match byte {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => {
                    records += 1;
                    record = 0;
                    continue;
                }
                _ => {}
            }
            record += 1;
            if record > MAX_RECORD_BYTES {
                return Err(DossiersImportError::Limit(format!(
                    "ligne {} : plus de {} Mio d'un seul tenant",
                    records + 1,
                    MAX_RECORD_BYTES / (1024 * 1024)
                )));
            }
        }
        if records > u64::from(xlsx::MAX_ROWS) {
            return Err(DossiersImportError::Limit(format!("plus de {} lignes", xlsx::MAX_ROWS)));
        }
        carried = 0;
        if utf8 {
            match std::str::from_utf8(&buffer[..filled]) {
                Ok(_) => {}
                // A sequence cut by the block boundary: keep its start for the next block.
                Err(e) if e.error_len().is_none() => {
                    let valid = e.valid_up_to();
                    buffer.copy_within(valid..filled, 0);
                    carried = filled - valid;
                }
                Err(_) => utf8 = false,
            }
        }
    }
}

/// The error report of a transmission: one line per refused field.
pub fn report_csv(rejets: &[Rejet], position: &str) -> String {
    let mut out = crate::spreadsheet::Csv::new(false);
    let _ = out.row([position, "id_erp_apprenant", "champ", "message"]);
    for rejet in rejets {
        let errors = rejet.errors.as_array().map(Vec::as_slice).unwrap_or_default();
        for error in errors {
            let field = |name: &str| error.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
            let _ = out.row([
                rejet.index.to_string(),
                rejet.id_erp_apprenant.clone().unwrap_or_default(),
                field("path"),
                field("message"),
            ]);
        }
    }
    String::from_utf8(out.into_bytes().unwrap_or_default()).unwrap_or_default()
}
