//! Reading a deposited XLSX workbook with bounded memory, whatever it holds. Any organisme key can send
//! a file, so a hostile one is expected: a header cell at column AAAAAAA, a zip of a few KiB that
//! inflates to gigabytes, a shared string of 256 MiB. Before a single row is ingested:
//!
//! 1. every part of the zip is inflated once, counting, and refused past its limit (the parts the
//!    reader holds in memory, shared strings and styles, `MAX_PART_BYTES`; a worksheet, which is
//!    streamed, `MAX_SHEET_BYTES`; any part inflating more than `MAX_RATIO` times its size); the
//!    shared strings, which the reader keeps in memory as one string each, are parsed and refused past
//!    `MAX_SHARED_STRINGS_MEMORY`, counting what they would take and what their declared count would
//!    reserve (a `uniqueCount` of a trillion is a few bytes of XML);
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
/// Memory the shared strings may take once read (each a string of its own, 24 bytes plus its text,
/// allocated in steps of 8), and their declared count may reserve (24 bytes each).
pub const MAX_SHARED_STRINGS_MEMORY: u64 = 64 * 1024 * 1024;

/// Why a workbook is refused.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    /// The workbook cannot be read.
    #[error("{0}")]
    File(String),
    /// The workbook exceeds a limit (named in the message).
    #[error("{0}")]
    Limit(String),
}

fn limit(message: String) -> SheetError {
    SheetError::Limit(message)
}

fn unreadable(e: impl std::fmt::Display) -> SheetError {
    SheetError::File(format!("classeur XLSX illisible : {e}"))
}

/// Read the workbook at `path` and send its first sheet's rows, the header first, to `emit` (which
/// says whether to go on) with their line numbers and their cells by column, once every limit is
/// checked.
pub(super) fn rows<E: From<SheetError>>(
    path: &Path,
    emit: &mut impl FnMut(u64, Vec<(usize, String)>) -> Result<bool, E>,
) -> Result<(), E> {
    check_parts(path)?;
    walk(path, &mut |_, _| Ok::<_, SheetError>(true))?;
    walk(path, emit)
}

/// Inflate every part once, counting; parse the shared strings.
fn check_parts(path: &Path) -> Result<(), SheetError> {
    let file = File::open(path).map_err(unreadable)?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(unreadable)?;
    if zip.len() > MAX_PARTS {
        return Err(limit(format!("le classeur a {} parties : {MAX_PARTS} au plus", zip.len())));
    }
    for index in 0..zip.len() {
        let part = zip.by_index(index).map_err(unreadable)?;
        let name = part.name().map_err(unreadable)?.into_owned();
        let most = if name.starts_with("xl/worksheets/") { MAX_SHEET_BYTES } else { MAX_PART_BYTES };
        let compressed = part.compressed_size().max(1);
        let mut counted = Counted { inner: part, name, compressed, most, inflated: 0, refused: None };
        let read = if counted.name.ends_with("sharedStrings.xml") {
            shared_strings(&mut counted)
        } else {
            std::io::copy(&mut counted, &mut std::io::sink()).map(|_| ()).map_err(unreadable)
        };
        if let Some(refused) = counted.refused {
            return Err(refused);
        }
        read?;
    }
    Ok(())
}

/// A part being inflated, refused (an error of its read, kept in `refused`) past its limits.
struct Counted<R> {
    inner: R,
    name: String,
    compressed: u64,
    most: u64,
    inflated: u64,
    refused: Option<SheetError>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.inflated += read as u64;
        let name = &self.name;
        if self.inflated > self.most {
            let most = self.most / (1024 * 1024);
            self.refused =
                Some(limit(format!("la partie {name} du classeur dépasse {most} Mio une fois décompressée")));
        } else if self.inflated > RATIO_FROM && self.inflated / self.compressed > MAX_RATIO {
            self.refused = Some(limit(format!(
                "la partie {name} du classeur se décompresse plus de {MAX_RATIO} fois : refusée"
            )));
        }
        match self.refused {
            Some(_) => Err(std::io::Error::other("limite dépassée")),
            None => Ok(read),
        }
    }
}

/// Count, as the shared strings stream by, the memory the reader will take for them; refuse past
/// `MAX_SHARED_STRINGS_MEMORY`. Nothing is buffered (a single string may be hundreds of MiB): the bytes
/// are scanned for the tags, and everything inside a `<si>`, its markup included, counts as its text.
fn shared_strings(part: &mut impl Read) -> Result<(), SheetError> {
    let mut cost = SharedStrings::default();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = part.read(&mut buffer).map_err(unreadable)?;
        if read == 0 {
            return Ok(());
        }
        for &byte in &buffer[..read] {
            cost.byte(byte)?;
        }
    }
}

/// The scanner of `shared_strings`.
#[derive(Default)]
struct SharedStrings {
    /// The tag being read (after `<`), its first `TAG_BYTES` bytes.
    tag: Option<Vec<u8>>,
    in_string: bool,
    text: u64,
    strings: u64,
    memory: u64,
}

const TAG_BYTES: usize = 4096;

impl SharedStrings {
    fn byte(&mut self, byte: u8) -> Result<(), SheetError> {
        if self.in_string {
            self.text += 1;
        }
        match (&mut self.tag, byte) {
            (None, b'<') => self.tag = Some(Vec::new()),
            (Some(tag), b'>') => {
                let tag = std::mem::take(tag);
                self.tag = None;
                self.tag_read(&tag)?;
            }
            (Some(tag), _) if tag.len() < TAG_BYTES => tag.push(byte),
            _ => {}
        }
        Ok(())
    }

    fn tag_read(&mut self, tag: &[u8]) -> Result<(), SheetError> {
        let end = tag.iter().position(|b| b.is_ascii_whitespace() || *b == b'/' && tag[0] != b'/');
        let name = &tag[..end.unwrap_or(tag.len())];
        let local = |name: &[u8]| name.rsplit(|b| *b == b':').next().unwrap_or_default().to_vec();
        let self_closing = tag.last() == Some(&b'/');
        if name.first() == Some(&b'/') {
            if local(&name[1..]) == b"si" && self.in_string {
                self.in_string = false;
                return self.counted(self.text);
            }
        } else if local(name) == b"si" {
            if self_closing {
                return self.counted(0);
            }
            (self.in_string, self.text) = (true, 0);
        } else if local(name) == b"sst" {
            let declared = unique_count(tag).unwrap_or(0);
            if declared.saturating_mul(24) > MAX_SHARED_STRINGS_MEMORY {
                return Err(shared_strings_refused(format!("{declared} annoncés")));
            }
        }
        Ok(())
    }

    /// One string more, of `text` bytes: 24 bytes and its text, allocated in steps of 8.
    fn counted(&mut self, text: u64) -> Result<(), SheetError> {
        self.strings += 1;
        self.memory += 24 + text.max(8).next_multiple_of(8);
        if self.memory > MAX_SHARED_STRINGS_MEMORY {
            return Err(shared_strings_refused(format!("plus de {} textes", self.strings)));
        }
        Ok(())
    }
}

/// The `uniqueCount` attribute of the `<sst …>` tag.
fn unique_count(tag: &[u8]) -> Option<u64> {
    let at = tag.windows(11).position(|w| w == b"uniqueCount")? + 11;
    let rest = tag[at..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace() || **b == b'=' || **b == b'"' || **b == b'\'');
    let digits: String = rest.take_while(|b| b.is_ascii_digit()).map(|b| char::from(*b)).collect();
    // More digits than a u64 holds is more than any limit.
    Some(digits.parse::<u64>().unwrap_or(if digits.is_empty() { 0 } else { u64::MAX }))
}

fn shared_strings_refused(what: String) -> SheetError {
    limit(format!(
        "les textes partagés du classeur ({what}) dépassent {} Mio : déposez le fichier en CSV, ou en plusieurs classeurs",
        MAX_SHARED_STRINGS_MEMORY / (1024 * 1024)
    ))
}

/// Stream the first sheet's cells, checked, into rows.
fn walk<E: From<SheetError>>(
    path: &Path,
    emit: &mut impl FnMut(u64, Vec<(usize, String)>) -> Result<bool, E>,
) -> Result<(), E> {
    let file = File::open(path).map_err(unreadable)?;
    let mut workbook = Xlsx::new(BufReader::new(file)).map_err(unreadable)?;
    let sheet = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| SheetError::File("le classeur n'a aucune feuille".into()))?;
    let mut cells = workbook.worksheet_cells_reader(&sheet).map_err(unreadable)?;
    let mut current: Option<(u32, Vec<(usize, String)>)> = None;
    let mut any = false;
    loop {
        let cell = cells.next_cell().map_err(unreadable)?;
        let row_of_cell = cell.as_ref().map(|c| c.get_position().0);
        // A row is complete when a cell of another row (or the end) comes.
        if let Some((row, values)) = current.take_if(|(row, _)| Some(*row) != row_of_cell) {
            any = true;
            if !emit(u64::from(row) + 1, values)? {
                return Ok(());
            }
        }
        let Some(cell) = cell else { break };
        let (row, column) = cell.get_position();
        if column >= MAX_COLUMNS {
            return Err(E::from(limit(format!(
                "ligne {} : une cellule en colonne {} ; {MAX_COLUMNS} colonnes au plus",
                u64::from(row) + 1,
                u64::from(column) + 1
            ))));
        }
        if row >= MAX_ROWS {
            return Err(E::from(limit(format!("plus de {MAX_ROWS} lignes"))));
        }
        let text = cell_text(cell.get_value());
        if text.chars().count() > MAX_CELL_CHARS {
            return Err(E::from(limit(format!(
                "ligne {} : une cellule de plus de {MAX_CELL_CHARS} caractères",
                u64::from(row) + 1
            ))));
        }
        current.get_or_insert_with(|| (row, Vec::new())).1.push((column as usize, text));
    }
    if !any {
        return Err(SheetError::File("le classeur est vide".into()).into());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `<sst>` holding `count` strings of `length` characters, as a reader would stream them.
    fn table(count: usize, length: usize) -> impl Read {
        let string = format!("<si><t>{}</t></si>", "é".repeat(length / 2));
        let strings = std::iter::repeat_n(string, count).flat_map(String::into_bytes).collect::<Vec<u8>>();
        std::io::Cursor::new(b"<sst>".as_slice())
            .chain(std::io::Cursor::new(strings))
            .chain(b"</sst>".as_slice())
    }

    #[test]
    fn shared_strings_are_refused_past_the_memory_they_would_take() {
        // 500 "é" (1,000 bytes of UTF-8) and their markup inside <si> (12 bytes) count 24 + 1,016.
        let fits = (MAX_SHARED_STRINGS_MEMORY / 1040) as usize;
        assert!(shared_strings(&mut table(fits, 1000)).is_ok());
        let Err(SheetError::Limit(message)) = shared_strings(&mut table(fits + 1, 1000)) else {
            panic!("one string more is refused")
        };
        assert!(message.contains("textes partagés du classeur (plus de"), "{message}");
        assert!(message.contains("dépassent 64 Mio : déposez le fichier en CSV"), "{message}");
    }

    #[test]
    fn the_scanner_counts_strings_and_their_text_with_any_prefix() {
        let mut cost = SharedStrings::default();
        let xml = br#"<?xml version="1.0"?><x:sst xmlns:x="m" count="3" uniqueCount="3"><x:si><x:t>abc</x:t></x:si><si/><si><r><t>un</t></r><r><t xml:space="preserve"> deux</t></r><rPh><t>p</t></rPh></si></x:sst>"#;
        for &byte in xml.iter() {
            cost.byte(byte).unwrap();
        }
        assert_eq!(cost.strings, 3);
        // The text counted is what lies inside each <si>, markup included: 21, 0 and 80 bytes.
        assert_eq!(cost.memory, (24 + 24) + (24 + 8) + (24 + 80));
    }

    #[test]
    fn a_declared_count_is_refused_past_what_it_would_reserve() {
        assert_eq!(unique_count(br#"sst count="2" uniqueCount = '12'"#), Some(12));
        assert_eq!(unique_count(br#"sst uniqueCount="99999999999999999999999""#), Some(u64::MAX));
        let mut huge =
            std::io::Cursor::new(br#"<sst uniqueCount="3000000"><si><t>x</t></si></sst>"#.as_slice());
        let Err(SheetError::Limit(message)) = shared_strings(&mut huge) else { panic!("refused") };
        assert!(message.contains("(3000000 annoncés)"), "{message}");
        let mut fine =
            std::io::Cursor::new(br#"<sst uniqueCount="2000000"><si><t>x</t></si></sst>"#.as_slice());
        assert!(shared_strings(&mut fine).is_ok());
    }
}
