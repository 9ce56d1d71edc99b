//! Peak memory of the release `tba serve` while it reads deposited files, hostile ones included
//! (issue: any organisme key can send a file; the goal is a peak RSS of at most 300 MiB for any file
//! up to `TBA_IMPORT_LIMIT`).
//!
//! `cargo bench --bench deposit_memory` (private cluster, or the server of `DATABASE_URL`). It starts
//! `tba serve` on a scratch database `tba_bench_deposit`, then deposits, one after the other, through
//! `POST /api/v1/imports`: the baselines, a CSV and an XLSX of BENCH_DOSSIERS (default 50,000) valid
//! synthetic dossiers, then hostile files. Before each, the server's peak RSS is reset (`clear_refs`);
//! after each it prints the answer's status, its time, the peak RSS (VmHWM) when the answer came and
//! once the projections have caught up with the file.
//!
//! `BENCH_PROJECTIONS=apart` starts another `tba serve` first, which takes the projections' leases:
//! the measured server then only reads and ingests, and the other's peak is the projections' share.

use std::io::Write;
use std::time::{Duration, Instant};

mod support;

use support::{env_usize, scratch};

const BENCH_DB: &str = "tba_bench_deposit";

/// The columns and cells of the dossiers, each under another ERP id per `suffix`.
fn table(items: &[serde_json::Value], suffix: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut columns: Vec<String> = Vec::new();
    for key in items.iter().flat_map(|i| i.as_object().into_iter().flat_map(|o| o.keys())) {
        if !columns.contains(key) {
            columns.push(key.clone());
        }
    }
    let rows = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|c| match &item[c.as_str()] {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) if c == "id_erp_apprenant" => format!("{s}-{suffix}"),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    (columns, rows)
}

fn csv_file(items: &[serde_json::Value]) -> anyhow::Result<Vec<u8>> {
    let (columns, rows) = table(items, "C");
    let mut out = csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new());
    out.write_record(&columns)?;
    for row in rows {
        out.write_record(&row)?;
    }
    Ok(out.into_inner()?)
}

fn xlsx_file(items: &[serde_json::Value]) -> anyhow::Result<Vec<u8>> {
    let (columns, rows) = table(items, "X");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, name) in columns.iter().enumerate() {
        sheet.write_string(0, c as u16, name)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            sheet.write_string(r as u32 + 1, c as u16, value)?;
        }
    }
    Ok(workbook.save_to_buffer()?)
}

/// A workbook written by hand, as a hostile sender would: parts named and filled as it likes.
fn hostile_workbook(sheet: &[u8], sst_attributes: &str, shared_strings: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    let parts: [(&str, Vec<u8>); 4] = [
        ("_rels/.rels", format!(r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#).into_bytes()),
        ("xl/workbook.xml", format!(r#"<workbook xmlns="{main}" xmlns:r="{rel}"><sheets><sheet name="F" sheetId="1" r:id="rId1"/></sheets></workbook>"#).into_bytes()),
        ("xl/_rels/workbook.xml.rels", format!(r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#).into_bytes()),
        ("xl/worksheets/sheet1.xml", [format!(r#"<worksheet xmlns="{main}"><sheetData>"#).as_bytes(), sheet, b"</sheetData></worksheet>"].concat()),
    ];
    for (name, content) in parts {
        zip.start_file(name, options)?;
        zip.write_all(&content)?;
    }
    zip.start_file("xl/sharedStrings.xml", options)?;
    zip.write_all(format!(r#"<sst xmlns="{main}" {sst_attributes}>"#).as_bytes())?;
    zip.write_all(shared_strings)?;
    zip.write_all(b"</sst>")?;
    Ok(zip.finish()?.into_inner())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dossiers = env_usize("BENCH_DOSSIERS", 50_000);
    let (pool, server_url) = scratch(BENCH_DB, 4).await?;
    let apart = std::env::var("BENCH_PROJECTIONS").is_ok_and(|v| v == "apart");
    // The first server to start takes the projections' leases.
    let projecting = if apart { Some(support::http::serve(&server_url).await?) } else { None };
    if projecting.is_some() {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let (mut server, pid, base) = support::http::serve(&server_url).await?;
    let projector_pid = projecting.as_ref().map_or(pid, |(_, pid, _)| *pid);
    let client = reqwest::Client::new();
    let data = tba::demo::generate(dossiers, 1, chrono::Utc::now().date_naive());
    tba::demo::load::prepare(&pool, &data.organismes_csv(), &[]).await?;
    let admin = support::admin_key(&pool).await?;
    let items: Vec<serde_json::Value> = data.dossiers.into_iter().map(|(_, item)| item).collect();

    let header = {
        let (columns, _) = table(&items[..1], "H");
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
    };
    let mib = 1024 * 1024;
    // Hostile files first, on an idle server; then the baselines. Between two files the projections
    // catch up, so that each figure is the file's own.
    let noise: String = (0..mib).map(|i| (b'a' + ((i * 7919 + i / 13) % 26) as u8) as char).collect();
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "XLSX, header cell at column AAAAAAA".into(),
            hostile_workbook(
                br#"<row r="1"><c r="AAAAAAA1" t="inlineStr"><is><t>nom_apprenant</t></is></c></row>"#,
                "",
                b"",
            )?,
        ),
        (
            "XLSX, one shared string of 256 MiB".into(),
            hostile_workbook(
                header.as_bytes(),
                "",
                &[b"<si><t>".as_slice(), &vec![b'A'; 256 * mib], b"</t></si>"].concat(),
            )?,
        ),
        (
            "XLSX, shared strings declaring a trillion (calamine would reserve them)".into(),
            hostile_workbook(header.as_bytes(), r#"uniqueCount="1000000000000""#, b"<si><t>x</t></si>")?,
        ),
        (
            "XLSX, 2 GiB of empty rows (zip bomb)".into(),
            hostile_workbook(&[header.as_bytes(), &b"<row/>".repeat(2048 * mib / 6)].concat(), "", b"")?,
        ),
        (
            "XLSX, a cell of 1 MiB of varied text".into(),
            hostile_workbook(
                format!(r#"{header}<row r="2"><c r="A2" t="inlineStr"><is><t>{noise}</t></is></c></row>"#)
                    .as_bytes(),
                "",
                b"",
            )?,
        ),
        ("CSV, one line of 256 MiB".into(), [b"nom_apprenant;".as_slice(), &vec![b'y'; 256 * mib]].concat()),
        (
            "CSV in UTF-16".into(),
            [
                &[0xFF, 0xFE][..],
                &String::from_utf8(csv_file(&items[..1000])?)?
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect::<Vec<u8>>(),
            ]
            .concat(),
        ),
        (format!("CSV, {dossiers} valid dossiers (baseline)"), csv_file(&items)?),
        (format!("XLSX, {dossiers} valid dossiers (baseline)"), xlsx_file(&items)?),
    ];
    println!(
        "server idle: RSS {} MiB; {} files, TBA_IMPORT_LIMIT 512 MiB",
        support::http::status_kb(pid, "VmRSS:").unwrap_or(0) / 1024,
        files.len()
    );
    let peak = |pid: u32| support::http::status_kb(pid, "VmHWM:").unwrap_or(0) / 1024;
    if apart {
        println!("projections in another process (pid {projector_pid}): its peak in the last column");
        println!(
            "| file | size | answer | seconds | RSS before | peak RSS at the answer | peak RSS, projected | projections' process peak |"
        );
        println!("|---|---|---|---|---|---|---|---|");
    } else {
        println!(
            "| file | size | answer | seconds | RSS before | peak RSS at the answer | peak RSS, projected |"
        );
        println!("|---|---|---|---|---|---|---|");
    }
    for (what, body) in files.drain(..) {
        support::projection_caught_up(&pool).await?;
        let before = support::http::status_kb(pid, "VmRSS:").unwrap_or(0) / 1024;
        for pid in [pid, projector_pid] {
            std::fs::write(format!("/proc/{pid}/clear_refs"), "5")?;
        }
        let size = body.len();
        let started = Instant::now();
        let response = client
            .post(format!("{base}/api/v1/imports"))
            .bearer_auth(&admin)
            .timeout(Duration::from_secs(1800))
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        let said = if status.is_success() {
            format!("{} accepted, {} rejected", answer["accepted"], answer["rejected"])
        } else {
            answer["message"].as_str().unwrap_or_default().chars().take(90).collect()
        };
        let seconds = started.elapsed().as_secs_f64();
        let at_answer = peak(pid);
        support::projection_caught_up(&pool).await?;
        let apart_column = if apart { format!(" {} MiB |", peak(projector_pid)) } else { String::new() };
        println!(
            "| {what} | {:.1} MiB | {} {said} | {seconds:.1} | {before} MiB | {at_answer} MiB | {} MiB |{apart_column}",
            size as f64 / mib as f64,
            status.as_u16(),
            peak(pid),
        );
    }
    server.start_kill()?;
    server.wait().await?;
    if let Some((mut projecting, _, _)) = projecting {
        projecting.start_kill()?;
        projecting.wait().await?;
    }
    Ok(())
}
