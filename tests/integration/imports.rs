//! Channel 3: file deposits (CSV `;`/`,`, UTF-8/Windows-1252, XLSX) through HTTP and the CLI, with
//! the same diff and idempotency as the ERP push and a downloadable row-level error report.

use crate::common;

use common::{CFA_LYON, TestApp, TestDb, dossier_v3};
use serde_json::{Value, json};

/// The columns of the test dossier, and its values as text, for rows with some fields changed.
fn table(rows: &[Value]) -> (Vec<String>, Vec<Vec<String>>) {
    let columns: Vec<String> = dossier_v3("x").as_object().unwrap().keys().cloned().collect();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let values = rows.iter().map(|row| columns.iter().map(|c| text(&row[c])).collect()).collect();
    (columns, values)
}

pub(crate) fn csv(rows: &[Value], delimiter: char) -> String {
    let (columns, values) = table(rows);
    let sep = delimiter.to_string();
    let mut out = columns.join(&sep) + "\r\n";
    for row in values {
        out += &(row.join(&sep) + "\r\n");
    }
    out
}

fn windows_1252(text: &str) -> Vec<u8> {
    let (encoded, _, lossy) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!lossy);
    encoded.into_owned()
}

fn rows() -> Vec<Value> {
    let mut helene = dossier_v3("F-2");
    helene["prenom_apprenant"] = json!("Hélène");
    let mut bad = dossier_v3("F-3");
    bad["date_de_naissance_apprenant"] = json!("31/12/2006");
    vec![dossier_v3("F-1"), helene, bad]
}

async fn upload(app: &TestApp, key: &str, body: Vec<u8>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/imports"))
        .bearer_auth(key)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The prénoms of the inscriptions in the log, as a process with the master key reads them (the log
/// itself holds them sealed).
async fn prenoms(db: &TestDb) -> Vec<String> {
    let sealed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'InscriptionEnregistree'
         AND data::jsonb #> '{personnel,scelle}' IS NOT NULL",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let store = events::EventStore::start(db.pool.clone(), common::store_config()).await.unwrap();
    let mut names: Vec<String> = store
        .read_category("dossier", 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "InscriptionEnregistree")
        .map(|e| e.data["personnel"]["prenom"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sealed, names.len() as i64, "every inscription is sealed in the log");
    names.sort();
    names
}

#[tokio::test]
async fn a_windows_1252_csv_with_semicolons_is_imported_and_its_refused_rows_reported() {
    let (db, app, key) = common::lyon_app().await;
    let (status, answer) = upload(&app, &key, windows_1252(&csv(&rows(), ';'))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["received"].as_i64(), answer["accepted"].as_i64(), answer["rejected"].as_i64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(prenoms(&db).await, ["Hélène", "Léa"], "decoded from Windows-1252");

    let report_url = answer["rapport_erreurs"].as_str().unwrap();
    let report = reqwest::Client::new().get(app.url(report_url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(report.status(), 200);
    assert!(report.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let report = report.text().await.unwrap();
    assert_eq!(
        report.lines().collect::<Vec<_>>(),
        [
            "ligne;id_erp_apprenant;champ;message",
            "4;F-3;date_de_naissance_apprenant;date attendue au format AAAA-MM-JJ (ex. 2025-09-01)"
        ]
    );
    let other = db.organisme_key(common::CFA_PARIS).await;
    let refused = reqwest::Client::new().get(app.url(report_url)).bearer_auth(&other).send().await.unwrap();
    assert_eq!(refused.status(), 404, "another organisme cannot read the report");

    // The same file again: the same dossiers, nothing new.
    let (_, again) = upload(&app, &key, windows_1252(&csv(&rows(), ';'))).await;
    assert_eq!((again["accepted"].as_i64(), again["events"].as_i64()), (Some(2), Some(0)), "{again}");
}

#[tokio::test]
async fn an_xlsx_workbook_with_typed_cells_is_imported() {
    let (db, app, key) = common::lyon_app().await;
    let (columns, values) = table(&rows()[..2]);
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let date_format = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
    for (c, name) in columns.iter().enumerate() {
        sheet.write_string(0, c as u16, name).unwrap();
    }
    for (r, row) in values.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            // Dates as Excel dates, numbers (SIRET, statut) as numbers: as spreadsheets hold them.
            if let Ok(date) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                let date = rust_xlsxwriter::ExcelDateTime::from_ymd(
                    date.format("%Y").to_string().parse().unwrap(),
                    date.format("%m").to_string().parse().unwrap(),
                    date.format("%d").to_string().parse().unwrap(),
                )
                .unwrap();
                sheet.write_date_with_format(r, c, &date, &date_format).unwrap();
            } else if let Ok(number) = value.parse::<f64>()
                && !value.starts_with('0')
            {
                sheet.write_number(r, c, number).unwrap();
            } else {
                sheet.write_string(r, c, value).unwrap();
            }
        }
    }
    let bytes = workbook.save_to_buffer().unwrap();
    let (status, answer) = upload(&app, &key, bytes).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["accepted"].as_i64(), answer["rejected"].as_i64()), (Some(2), Some(0)), "{answer}");
    assert_eq!(answer["rapport_erreurs"], Value::Null);
    assert_eq!(prenoms(&db).await, ["Hélène", "Léa"]);
    let siret: String = sqlx::query_scalar(
        "SELECT data::jsonb ->> 'siret_employeur' FROM events WHERE event_type = 'ContratSigne' LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(siret, "55210055400013", "a SIRET stored as a number keeps its digits");
}

#[tokio::test]
async fn a_file_without_the_required_columns_is_refused_whole() {
    let (db, app, key) = common::lyon_app().await;
    let before = db.head().await;
    let (status, answer) = upload(&app, &key, b"nom;prenom\nMARTIN;Lea\n".to_vec()).await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("colonnes obligatoires absentes") && message.contains("id_erp_apprenant"),
        "{message}"
    );
    let (status, answer) = upload(&app, &key, Vec::new()).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(db.head().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_imports_a_comma_separated_utf8_file_and_writes_the_error_report() {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("import-{}", db.name));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("effectifs.csv");
    std::fs::write(&file, format!("\u{feff}{}", csv(&rows(), ','))).unwrap();
    let organisme = format!("{}:{}", CFA_LYON.0, CFA_LYON.1);
    let output = db.tba(&["import", file.to_str().unwrap(), "--organisme", &organisme]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("3 rows read: 2 accepted, 1 rejected"), "{stdout}");
    let report = std::fs::read_to_string(dir.join("effectifs.csv.erreurs.csv")).unwrap();
    assert!(report.contains("4;F-3;date_de_naissance_apprenant;"), "{report}");
    assert_eq!(prenoms(&db).await, ["Hélène", "Léa"]);

    let unknown = db.tba(&["import", dir.join("absent.csv").to_str().unwrap(), "--organisme", &organisme]);
    assert!(!unknown.status.success());
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_error_report_never_holds_a_formula() {
    let (_db, app, key) = common::lyon_app().await;
    let mut bad = dossier_v3("=1+1");
    bad["date_de_naissance_apprenant"] = json!("31/12/2006");
    let (status, answer) = upload(&app, &key, csv(&[bad], ';').into_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    let report_url = answer["rapport_erreurs"].as_str().unwrap();
    let report = reqwest::Client::new().get(app.url(report_url)).bearer_auth(&key).send().await.unwrap();
    let report = report.text().await.unwrap();
    assert_eq!(
        report.lines().nth(1),
        Some("2;'=1+1;date_de_naissance_apprenant;date attendue au format AAAA-MM-JJ (ex. 2025-09-01)"),
        "{report}"
    );
}

/// A workbook written by hand, as a hostile sender would: its first sheet's XML and its shared strings.
fn workbook(sheet: &str, shared_strings: &str) -> Vec<u8> {
    workbook_declaring(sheet, "", shared_strings)
}

/// The same, with attributes of its own on the shared strings' table (`uniqueCount="…"`).
fn workbook_declaring(sheet: &str, sst_attributes: &str, shared_strings: &str) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let parts = [
        ("[Content_Types].xml", r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_owned()),
        ("_rels/.rels", r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_owned()),
        ("xl/workbook.xml", r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Feuil1" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_owned()),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#.to_owned()),
        ("xl/worksheets/sheet1.xml", format!(r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{sheet}</sheetData></worksheet>"#)),
        ("xl/sharedStrings.xml", format!(r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" {sst_attributes}>{shared_strings}</sst>"#)),
    ];
    for (name, content) in parts {
        zip.start_file(name, options).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A first row of inline strings: the v3 columns.
fn header_row() -> String {
    let (columns, _) = table(&[dossier_v3("X")]);
    let cells: String = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                r#"<c r="{}1" t="inlineStr"><is><t>{c}</t></is></c>"#,
                rust_xlsxwriter::utility::column_number_to_name(i as u16)
            )
        })
        .collect();
    format!(r#"<row r="1">{cells}</row>"#)
}

#[tokio::test]
async fn hostile_files_are_refused_by_the_limit_they_exceed_and_write_nothing() {
    let (db, app, key) = common::lyon_app().await;
    let head = db.head().await;
    let far = r#"<row r="1"><c r="AAAAAAA1" t="inlineStr"><is><t>nom_apprenant</t></is></c></row>"#;
    let long_cell = format!(
        r#"{}<row r="2"><c r="A2" t="inlineStr"><is><t>{}</t></is></c></row>"#,
        header_row(),
        "x".repeat(40_000)
    );
    let bomb = format!("<si><t>{}</t></si>", "A".repeat(100 * 1024 * 1024));
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(csv(&rows(), ';').encode_utf16().flat_map(u16::to_le_bytes));
    let mut long_line = csv(&rows(), ';');
    long_line.push_str(&"y".repeat(2 * 1024 * 1024));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("a header cell at column AAAAAAA", workbook(far, ""), 413, "colonnes au plus"),
        ("a cell of 40,000 characters", workbook(&long_cell, ""), 413, "32767 caractères"),
        (
            "100 MiB of shared strings in a small zip",
            workbook(&header_row(), &bomb),
            413,
            "sharedStrings.xml",
        ),
        (
            "a shared strings' table declaring a trillion strings (the reader would reserve them)",
            workbook_declaring(&header_row(), r#"uniqueCount="1000000000000""#, "<si><t>x</t></si>"),
            413,
            "textes partagés du classeur (1000000000000 annoncés) dépassent 64 Mio",
        ),
        ("a UTF-16 CSV", utf16, 400, "encodage non pris en charge"),
        ("a CSV line of 2 MiB", long_line.into_bytes(), 413, "Mio d'un seul tenant"),
    ];
    for (what, body, status, says) in cases {
        let (got, answer) = upload(&app, &key, body).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(says), "{what}: {answer}");
    }
    assert_eq!(db.head().await, head, "no refused file wrote anything");
    let journal: i64 =
        sqlx::query_scalar("SELECT count(*) FROM transmissions").fetch_one(&db.pool).await.unwrap();
    assert_eq!(journal, 0, "nor opened a transmission");
}
