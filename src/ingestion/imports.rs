//! Channel 3, the file deposit: a CSV (`;` or `,`, UTF-8 or Windows-1252) or XLSX file whose columns
//! are the v3 field names, read row by row from disk on a blocking thread and fed, 2000 rows at a time,
//! through the same path as the ERP push (`snapshots::ingest`): same validation, same diff, same
//! idempotency. Only the rows in flight are in memory, whatever the size of the file. Refused rows go
//! to the transmission journal, from which the error report (CSV) is rendered.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use calamine::{DataRef, Reader as _, Xlsx};
use chrono::{Duration, NaiveDate};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::journal::{self, Rejet, Totals, Transmission};
use super::snapshots::{self, IngestError, Transmitter};
use super::v3;

/// Rows handed to the pipeline at once (the ERP push's limit).
const CHUNK: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole cannot be read (format, encoding, header).
    #[error("{0}")]
    File(String),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// One data row: its line in the file (the header is line 1) and its cells by column name.
struct Row {
    line: u64,
    item: Value,
}

/// Import the file at `path`; `progress` is told how many rows are done.
pub async fn run(
    store: &events::EventStore,
    transmitter: &Transmitter,
    transmission: &Transmission,
    path: &Path,
    progress: impl Fn(u64),
) -> Result<Totals, ImportError> {
    let (tx, mut rx) = mpsc::channel::<Result<Vec<Row>, ImportError>>(1);
    let file = path.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        if let Err(error) = read_rows(&file, &tx) {
            let _ = tx.blocking_send(Err(error));
        }
    });
    let pool = store.pool();
    let mut totals = Totals::default();
    let mut opened = false;
    while let Some(chunk) = rx.recv().await {
        let rows = chunk?;
        if !opened {
            journal::open(&mut *pool.acquire().await?, transmission).await?;
            opened = true;
        }
        let (lines, items): (Vec<i32>, Vec<Value>) =
            rows.into_iter().map(|r| (i32::try_from(r.line).unwrap_or(i32::MAX), r.item)).unzip();
        let outcomes = snapshots::ingest(store, transmitter, transmission.id, &items).await?;
        journal::add(&mut *pool.acquire().await?, transmission.id, &items, &lines, &outcomes).await?;
        let part = Totals::of(&outcomes);
        totals.received += part.received;
        totals.accepted += part.accepted;
        totals.rejected += part.rejected;
        totals.events += part.events;
        progress(totals.received as u64);
    }
    reader.await.map_err(|e| ImportError::File(format!("the file reader failed: {e}")))?;
    if !opened {
        return Err(ImportError::File("le fichier ne contient aucune ligne de données".into()));
    }
    Ok(totals)
}

/// Read the file and send its rows in chunks; stops early if the receiver is gone.
fn read_rows(path: &Path, tx: &mpsc::Sender<Result<Vec<Row>, ImportError>>) -> Result<(), ImportError> {
    let io = |e: std::io::Error| ImportError::File(format!("lecture du fichier impossible : {e}"));
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
        xlsx_rows(BufReader::new(file), &mut emit)?;
    } else {
        csv_rows(path, file, &mut emit)?;
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Ok(chunk));
    }
    Ok(())
}

fn check_header(columns: &[String]) -> Result<(), ImportError> {
    let missing: Vec<&str> =
        v3::REQUIRED_FIELDS.iter().copied().filter(|c| !columns.iter().any(|h| h == c)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ImportError::File(format!(
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

fn csv_rows(path: &Path, file: File, emit: &mut impl FnMut(Row) -> bool) -> Result<(), ImportError> {
    let (mut reader, columns) = csv_reader(path, file)?;
    check_header(&columns)?;
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
            Err(e) => return Err(ImportError::File(format!("CSV illisible : {e}"))),
        }
    }
}

/// A CSV reader of `file` (at `path`): decoded from UTF-8 when the whole file is valid UTF-8, else
/// from Windows-1252; `;` or `,` separated, whichever the first line has more of. With it, the names of
/// the header's columns, trimmed and in lower case.
pub fn csv_reader(
    path: &Path,
    file: File,
) -> Result<(csv::Reader<impl Read + use<>>, Vec<String>), ImportError> {
    let utf8 =
        is_utf8(path).map_err(|e| ImportError::File(format!("lecture du fichier impossible : {e}")))?;
    let encoding = if utf8 { encoding_rs::UTF_8 } else { encoding_rs::WINDOWS_1252 };
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new().encoding(Some(encoding)).build(file);
    let mut decoded = BufReader::new(decoded);
    let mut first = String::new();
    std::io::BufRead::read_line(&mut decoded, &mut first)
        .map_err(|e| ImportError::File(format!("première ligne illisible : {e}")))?;
    let delimiter = if first.matches(';').count() >= first.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(std::io::Cursor::new(first.into_bytes()).chain(decoded));
    let columns = reader
        .headers()
        .map_err(|e| ImportError::File(format!("en-tête illisible : {e}")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    Ok((reader, columns))
}

/// Whether the whole file is valid UTF-8 (read in blocks, never whole).
fn is_utf8(path: &Path) -> std::io::Result<bool> {
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut carried = 0;
    loop {
        let read = file.read(&mut buffer[carried..])?;
        if read == 0 {
            return Ok(carried == 0);
        }
        let filled = carried + read;
        match std::str::from_utf8(&buffer[..filled]) {
            Ok(_) => carried = 0,
            // A sequence cut by the block boundary: keep its start for the next block.
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                buffer.copy_within(valid..filled, 0);
                carried = filled - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

fn xlsx_rows<R: Read + Seek>(input: R, emit: &mut impl FnMut(Row) -> bool) -> Result<(), ImportError> {
    let bad = |e: calamine::XlsxError| ImportError::File(format!("classeur XLSX illisible : {e}"));
    let mut workbook = Xlsx::new(input).map_err(bad)?;
    let sheet = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| ImportError::File("le classeur n'a aucune feuille".into()))?;
    let mut cells = workbook.worksheet_cells_reader(&sheet).map_err(bad)?;
    let mut columns: Vec<String> = Vec::new();
    let mut current: Option<(u32, Vec<(usize, String)>)> = None;
    let mut header_done = false;
    loop {
        let cell = cells.next_cell().map_err(bad)?;
        let row_of_cell = cell.as_ref().map(|c| c.get_position().0);
        // A row is complete when a cell of another row (or the end) comes.
        if let Some((row, values)) = current.take_if(|(row, _)| Some(*row) != row_of_cell) {
            if !header_done {
                columns = vec![String::new(); values.iter().map(|(c, _)| c + 1).max().unwrap_or(0)];
                for (column, name) in values {
                    columns[column] = name.trim().to_lowercase();
                }
                check_header(&columns)?;
                header_done = true;
            } else if !emit(Row { line: u64::from(row) + 1, item: item(&columns, values.into_iter()) }) {
                return Ok(());
            }
        }
        let Some(cell) = cell else { break };
        let (row, column) = cell.get_position();
        let text = cell_text(cell.get_value());
        current.get_or_insert_with(|| (row, Vec::new())).1.push((column as usize, text));
    }
    if !header_done {
        return Err(ImportError::File("le classeur est vide".into()));
    }
    Ok(())
}

/// A cell as the text an ERP would have written: whole numbers without decimals (SIRET, codes), dates
/// as `YYYY-MM-DD`.
fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Empty | DataRef::Error(_) => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(n) => n.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => {
            // Excel's day 0 is 1899-12-30 (for dates after 1900-02-28, which is all we read).
            let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).expect("a valid date");
            (epoch + Duration::days(d.as_f64().floor() as i64)).to_string()
        }
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
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
