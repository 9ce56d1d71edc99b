//! The spreadsheets the exports answer with: a semicolon CSV (UTF-8 with a byte-order mark, every cell
//! neutralised, as French spreadsheets expect) or an XLSX with one sheet per list (typed text).

use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// `xlsx` (the default) or `csv`, checked.
pub fn format(asked: Option<&str>) -> Result<String, ApiError> {
    let format = asked.unwrap_or("xlsx").to_lowercase();
    if format == "xlsx" || format == "csv" {
        Ok(format)
    } else {
        Err(ApiError::bad_request(format!("format : xlsx ou csv, pas {format:?}")))
    }
}

/// The file `name.<format>` of `rows` under `columns`: a CSV, or an XLSX whose sheets are `feuilles`
/// (`(value of the first column, title)`: each sheet holds the rows of its value).
pub fn reponse(
    format: &str,
    name: &str,
    columns: &[&str],
    rows: &[Vec<String>],
    feuilles: &[(&str, &str)],
) -> Result<Response, ApiError> {
    let disposition = format!("attachment; filename=\"{name}.{format}\"");
    let (content_type, body) = if format == "csv" {
        ("text/csv; charset=utf-8", csv(columns, rows)?)
    } else {
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx(columns, rows, feuilles)?)
    };
    Ok(([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

/// "oui" or "non".
pub fn oui(value: bool) -> String {
    if value { "oui" } else { "non" }.to_owned()
}

fn csv(columns: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>, ApiError> {
    let internal = |e: csv::Error| ApiError::Internal(e.to_string());
    let mut writer = crate::spreadsheet::Csv::new(true);
    writer.row(columns).map_err(internal)?;
    for row in rows {
        writer.row(row).map_err(internal)?;
    }
    writer.into_bytes().map_err(internal)
}

fn xlsx(columns: &[&str], rows: &[Vec<String>], feuilles: &[(&str, &str)]) -> Result<Vec<u8>, ApiError> {
    use rust_xlsxwriter::{Format, Workbook};
    let internal = |e: rust_xlsxwriter::XlsxError| ApiError::Internal(e.to_string());
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    for (liste, title) in feuilles {
        let sheet = workbook.add_worksheet().set_name(*title).map_err(internal)?;
        for (col, name) in columns.iter().enumerate() {
            sheet.write_string_with_format(0, col as u16, *name, &bold).map_err(internal)?;
        }
        for (r, row) in rows.iter().filter(|row| row[0] == *liste).enumerate() {
            for (col, value) in row.iter().enumerate() {
                sheet.write_string(r as u32 + 1, col as u16, value).map_err(internal)?;
            }
        }
    }
    workbook.save_to_buffer().map_err(internal)
}
