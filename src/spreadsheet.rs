//! Every CSV the service writes goes through here, so that no cell a spreadsheet opens can run as a
//! formula: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return (names pushed by an ERP,
//! advisors' comments, error messages that quote them) is prefixed with a single quote, as OWASP's
//! guidance on CSV injection says. XLSX cells are written as typed text and need no such prefix.

use std::borrow::Cow;

/// The cell as a spreadsheet will show it and never evaluate.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// A semicolon-separated CSV (what French spreadsheets open by default), optionally with a UTF-8
/// byte order mark so that they read accents right.
pub struct Csv {
    writer: csv::Writer<Vec<u8>>,
}

impl Csv {
    pub fn new(bom: bool) -> Self {
        let start = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        Csv { writer: csv::WriterBuilder::new().delimiter(b';').from_writer(start) }
    }

    /// Write one row, every cell neutralised.
    pub fn row<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, cells: I) -> Result<(), csv::Error> {
        let cells: Vec<String> = cells.into_iter().map(|c| neutralise(c.as_ref()).into_owned()).collect();
        self.writer.write_record(&cells)
    }

    pub fn into_bytes(self) -> Result<Vec<u8>, csv::Error> {
        self.writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_looking_cells_are_quoted_and_others_kept() {
        for cell in ["=HYPERLINK(\"http://x\")", "+33612345678", "-1+1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
        }
        for cell in ["MARTIN", "", "0612345678", "a=b", " =x"] {
            assert_eq!(neutralise(cell), cell, "{cell:?}");
        }
    }

    #[test]
    fn every_cell_of_a_row_is_neutralised() {
        let mut csv = Csv::new(false);
        csv.row(["=1+1", "Léa"]).expect("write");
        assert_eq!(String::from_utf8(csv.into_bytes().expect("bytes")).expect("utf-8"), "'=1+1;Léa\n");
    }
}
