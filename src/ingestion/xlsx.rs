//! Reading a deposited XLSX workbook with bounded memory, whatever it holds. Any organisme key can send
//! a file, so a hostile one is expected: a header cell at column AAAAAAA, a zip of a few KiB that
//! inflates to gigabytes, a shared string of 256 MiB. Before a single row is ingested:
//!
//! 1. every part of the zip is inflated once, counting, and refused past its limit (the parts the
//!    reader holds in memory, shared strings and styles, `MAX_PART_BYTES`; a worksheet, which is
//!    streamed, `MAX_SHEET_BYTES`; any part inflating more than `MAX_RATIO` times its size);
//! 2. the first sheet's cells are streamed once and refused past `MAX_COLUMNS`, `MAX_ROWS` or
//!    `MAX_CELL_CHARS`;
//!
//! then the cells are streamed again, row by row, into the pipeline. A refused file writes nothing, and
//! the refusal names the limit (413).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use calamine::{DataRef, Reader as _, Xlsx};
use chrono::{Duration, NaiveDate};

use super::imports::{ImportError, Row, check_header, item};

/// Columns a row may use (the v3 format has about a hundred fields).
pub const MAX_COLUMNS: u32 = 1024;
/// Rows a sheet may have (as many as a spreadsheet program opens).
pub const MAX_ROWS: u32 = 1_048_576;
/// Characters a cell may hold (as many as a spreadsheet program keeps).
pub const MAX_CELL_CHARS: usize = 32_767;
/// Bytes a part the reader keeps in memory (shared strings, styles, the workbook) may inflate to.
pub const MAX_PART_BYTES: u64 = 64 * 1024 * 1024;
/// Bytes a worksheet (streamed) may inflate to.
pub const MAX_SHEET_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// How many times its compressed size a part of more than `RATIO_FROM` bytes may inflate to: a
/// spreadsheet compresses ten to twenty times, a zip bomb thousands.
pub const MAX_RATIO: u64 = 200;
const RATIO_FROM: u64 = 1024 * 1024;
/// Parts a workbook may have.
pub const MAX_PARTS: usize = 10_000;

fn limit(message: String) -> ImportError {
    ImportError::Limit(message)
}

fn unreadable(e: impl std::fmt::Display) -> ImportError {
    ImportError::File(format!("classeur XLSX illisible : {e}"))
}

/// Read the workbook at `path` and send its first sheet's rows to `emit` (which says whether to go
/// on), once every limit is checked.
pub(super) fn rows(path: &Path, emit: &mut impl FnMut(Row) -> bool) -> Result<(), ImportError> {
    check_parts(path)?;
    walk(path, &mut |_| true)?;
    walk(path, emit)
}

/// Inflate every part once, counting.
fn check_parts(path: &Path) -> Result<(), ImportError> {
    let file = File::open(path).map_err(unreadable)?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(unreadable)?;
    if zip.len() > MAX_PARTS {
        return Err(limit(format!("le classeur a {} parties : {MAX_PARTS} au plus", zip.len())));
    }
    let mut buffer = vec![0u8; 64 * 1024];
    for index in 0..zip.len() {
        let mut part = zip.by_index(index).map_err(unreadable)?;
        let name = part.name().map_err(unreadable)?.into_owned();
        let sheet = name.starts_with("xl/worksheets/");
        let most = if sheet { MAX_SHEET_BYTES } else { MAX_PART_BYTES };
        let compressed = part.compressed_size().max(1);
        let mut inflated: u64 = 0;
        loop {
            let read = part.read(&mut buffer).map_err(unreadable)?;
            if read == 0 {
                break;
            }
            inflated += read as u64;
            if inflated > most {
                return Err(limit(format!(
                    "la partie {name} du classeur dépasse {} Mio une fois décompressée",
                    most / (1024 * 1024)
                )));
            }
            if inflated > RATIO_FROM && inflated / compressed > MAX_RATIO {
                return Err(limit(format!(
                    "la partie {name} du classeur se décompresse plus de {MAX_RATIO} fois : refusée"
                )));
            }
        }
    }
    Ok(())
}

/// Stream the first sheet's cells, checked, into rows.
fn walk(path: &Path, emit: &mut impl FnMut(Row) -> bool) -> Result<(), ImportError> {
    let file = File::open(path).map_err(unreadable)?;
    let mut workbook = Xlsx::new(BufReader::new(file)).map_err(unreadable)?;
    let sheet = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| ImportError::File("le classeur n'a aucune feuille".into()))?;
    let mut cells = workbook.worksheet_cells_reader(&sheet).map_err(unreadable)?;
    let mut columns: Vec<String> = Vec::new();
    let mut current: Option<(u32, Vec<(usize, String)>)> = None;
    let mut header_done = false;
    loop {
        let cell = cells.next_cell().map_err(unreadable)?;
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
        if column >= MAX_COLUMNS {
            return Err(limit(format!(
                "ligne {} : une cellule en colonne {} ; {MAX_COLUMNS} colonnes au plus",
                u64::from(row) + 1,
                u64::from(column) + 1
            )));
        }
        if row >= MAX_ROWS {
            return Err(limit(format!("plus de {MAX_ROWS} lignes")));
        }
        let text = cell_text(cell.get_value());
        if text.chars().count() > MAX_CELL_CHARS {
            return Err(limit(format!(
                "ligne {} : une cellule de plus de {MAX_CELL_CHARS} caractères",
                u64::from(row) + 1
            )));
        }
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
