//! What the referential files share (organismes, Missions Locales, réseaux): a CSV read whole, its header
//! checked against the columns expected, each row's values by column name, and refusals that name their
//! line and column. Each file's own rules live with its import.

use std::collections::HashMap;
use std::io::Read;

use csv::StringRecord;

/// A refused value of a file: its line (1 is the header; 0 when the refusal concerns the file as a
/// whole), the column, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub message: String,
}

impl RowError {
    pub fn new(line: u64, field: &str, message: impl Into<String>) -> RowError {
        RowError { line, field: field.to_owned(), message: message.into() }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.message)
    }
}

/// A file's readable rows, and where each column is.
pub struct Sheet {
    position: HashMap<String, usize>,
    records: Vec<(u64, StringRecord)>,
}

/// One row: its line, and its values by column name (trimmed; "" when absent).
pub struct Row<'a> {
    pub line: u64,
    record: &'a StringRecord,
    position: &'a HashMap<String, usize>,
}

impl Row<'_> {
    pub fn get(&self, column: &str) -> &str {
        self.position.get(column).and_then(|&i| self.record.get(i)).unwrap_or("")
    }
}

/// Read a whole file: its rows and the refusals of the rows that cannot be read; refused outright when
/// its header lacks one of the `expected` columns.
pub fn read(input: impl Read, expected: &[&str]) -> Result<(Sheet, Vec<RowError>), Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
    let headers = reader.headers().map_err(|e| vec![RowError::new(1, "header", e.to_string())])?;
    let position: HashMap<String, usize> =
        headers.iter().enumerate().map(|(i, h)| (h.to_owned(), i)).collect();
    let missing: Vec<RowError> = expected
        .iter()
        .filter(|c| !position.contains_key(**c))
        .map(|c| RowError::new(1, c, format!("missing column (expected: {})", expected.join(","))))
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    let (mut records, mut errors) = (Vec::new(), Vec::new());
    for record in reader.records() {
        match record {
            Ok(record) => records.push((record.position().map_or(0, |p| p.line()), record)),
            Err(e) => errors.push(RowError::new(e.position().map_or(0, |p| p.line()), "row", e.to_string())),
        }
    }
    Ok((Sheet { position, records }, errors))
}

impl Sheet {
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.records.iter().map(|(line, record)| Row { line: *line, record, position: &self.position })
    }
}

/// An optional value: absent when empty, else parsed.
pub fn optional<T>(
    raw: &str,
    parse: impl Fn(&str) -> Result<T, events::domain::Invalid>,
) -> Result<Option<T>, String> {
    if raw.is_empty() { Ok(None) } else { parse(raw).map(Some).map_err(|e| e.to_string()) }
}
