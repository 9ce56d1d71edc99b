//! ERP push throughput through HTTP, with the release build of `tba serve` in its own process.
//!
//! `cargo bench --bench ingest_http` (private cluster, or the server of `DATABASE_URL`). It creates a
//! scratch database `tba_bench_ingest`, starts `tba serve` on it, generates BENCH_DOSSIERS (default
//! 100,000) synthetic dossiers (`tba demo`'s generator), imports their organismes and one key per
//! organisme, then pushes every dossier to `POST /api/v3/dossiers-apprenants` twice, with
//! BENCH_CONCURRENCY (default 4) requests in flight: the first push (everything new) and an unchanged
//! re-push (nothing to append), and the same re-push again with the snapshot digest cache emptied (each
//! dossier's events read and decided again: the baseline the cache is measured against). Then it deposits the same dossiers under other ERP ids (so, new
//! dossiers) as one CSV file through `POST /api/v1/imports`, to show that a large file is streamed.
//! The server runs its projections as in production; each phase starts once every projection
//! (`dossiers`, `ruptures`, `voeux`, `france_travail`) has caught up with the previous one (each one's
//! catch-up time after the phase's end is printed), so that each rate is the push's own.
//! It prints dossiers/s of each phase, and the server's peak RSS (VmHWM) and CPU time after each.

use std::time::Duration;

use tba::demo::load;
use tba::progress::Progress;

mod support;

use support::{env_usize, scratch};

const BENCH_DB: &str = "tba_bench_ingest";

/// User + system CPU seconds of a process.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The dossiers as one `;` CSV with the v3 field names as columns, each under another ERP id.
fn csv_of(items: &[serde_json::Value]) -> anyhow::Result<Vec<u8>> {
    let mut columns: Vec<String> = Vec::new();
    for item in items {
        for key in item.as_object().into_iter().flat_map(|o| o.keys()) {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let mut out = csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new());
    out.write_record(&columns)?;
    for item in items {
        out.write_record(columns.iter().map(|c| match &item[c.as_str()] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) if c == "id_erp_apprenant" => format!("{s}-F"),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }))?;
    }
    Ok(out.into_inner()?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dossiers = env_usize("BENCH_DOSSIERS", 100_000);
    let concurrency = env_usize("BENCH_CONCURRENCY", 4);
    let (pool, server_url) = scratch(BENCH_DB, 4).await?;
    let (mut server, pid, base) = support::http::serve(&server_url).await?;
    let client = reqwest::Client::new();

    let today = chrono::Utc::now().date_naive();
    let data = tba::demo::generate(dossiers, 1, today);
    let organismes = data.organismes_csv();
    let items: Vec<serde_json::Value> = data.dossiers.into_iter().map(|(_, item)| item).collect();
    let batches = load::prepare(&pool, &organismes, &items).await?;
    let bytes: usize = batches.iter().map(|b| b.body.len()).sum();
    let file = csv_of(&items)?;
    drop(items);
    println!(
        "{dossiers} dossiers, {} requests ({:.1} MB of JSON), {concurrency} in flight; server rss at start {} MiB",
        batches.len(),
        bytes as f64 / 1e6,
        support::http::status_kb(pid, "VmRSS:").unwrap_or(0) / 1024
    );
    let mut cpu = cpu_seconds(pid).unwrap_or(0.0);
    for run in ["first push", "unchanged re-push", "re-push, no cache"] {
        if run == "re-push, no cache" {
            // The same re-push when the digests of the last snapshots are unknown: every dossier's
            // events are read and decided again (the path a re-send takes after any change).
            sqlx::query("TRUNCATE dossier_snapshot_digests").execute(&pool).await?;
        }
        let progress = Progress::new(run, "dossiers", dossiers as u64);
        let report = load::push_all(&base, &batches, concurrency, &progress).await?;
        progress.finish();
        let caught_up = support::projections_caught_up(&pool).await?;
        let spent = cpu_seconds(pid).unwrap_or(0.0);
        let t = &report.totals;
        println!(
            "{run:>18}: {:>8.0} dossiers/s  ({} accepted, {} rejected, {} events, {:.2} s; projections caught up {} later; server CPU {:.1} s, peak RSS {} MiB)",
            t.received as f64 / report.elapsed.as_secs_f64(),
            t.accepted,
            t.rejected,
            t.events,
            report.elapsed.as_secs_f64(),
            support::caught_up_text(&caught_up),
            spent - cpu,
            support::http::status_kb(pid, "VmHWM:").unwrap_or(0) / 1024,
        );
        cpu = spent;
    }
    let admin = support::admin_key(&pool).await?;
    let size = file.len();
    let started = std::time::Instant::now();
    let response = client
        .post(format!("{base}/api/v1/imports"))
        .bearer_auth(&admin)
        .timeout(Duration::from_secs(1800))
        .body(file)
        .send()
        .await?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "the import was refused: {answer}");
    let elapsed = started.elapsed().as_secs_f64();
    let caught_up = support::projections_caught_up(&pool).await?;
    println!(
        "{:>18}: {:>8.0} dossiers/s  ({} accepted, {} rejected, {} events, {:.2} s, a {:.1} MB CSV; projections caught up {} later; server CPU {:.1} s, peak RSS {} MiB)",
        "CSV file deposit",
        answer["received"].as_f64().unwrap_or(0.0) / elapsed,
        answer["accepted"],
        answer["rejected"],
        answer["events"],
        elapsed,
        size as f64 / 1e6,
        support::caught_up_text(&caught_up),
        cpu_seconds(pid).unwrap_or(0.0) - cpu,
        support::http::status_kb(pid, "VmHWM:").unwrap_or(0) / 1024,
    );
    server.start_kill()?;
    server.wait().await?;
    Ok(())
}
