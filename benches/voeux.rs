//! Vœux import and funnel: `cargo bench --bench voeux` (private cluster, or the server of
//! `DATABASE_URL`).
//!
//! It writes a synthetic Affelnet file of BENCH_ROWS (default 500,000) vœux: candidates of every
//! académie with one to four vœux each (2.5 on average), at 100 organismes per académie, 85 % with an
//! INE and all with a birth date and contacts. Into a fresh database (`tba_bench_voeux`) it then
//! 1. imports it with the release `tba voeux import --source affelnet FILE` (the whole command: both
//!    readings of the file, every event appended and indexed): rows per second;
//!    side by side, the baseline: the same events (read back from the log, opened) appended again into
//!    a second fresh database (`tba_bench_voeux_base`) by the store's batched append (`append_many`,
//!    one request per candidate, as many events per call as the import writes per transaction, sealed
//!    under the same master key): the import's rate as a ratio to the log's own for events of that size;
//! 2. imports the same file again (every vœu unchanged: nothing written);
//! 3. builds the `voeux` read model from the log;
//! 4. asks `funnel(source: AFFELNET, rentree, groupBy: ACADEMIE)` BENCH_QUERIES (default 200) times,
//!    one after the other, over HTTP of the release `tba serve` with an ANALYST key (every académie),
//!    and as many times with an ACADEMIE key (its own académie only); side by side, `logHead` (public,
//!    one indexed read): the machine's own floor. The file's candidates have no dossier; last, 30 % of
//!    them are counted as under contract in the read model (as matching would count them) and the
//!    funnel is asked again.
//!
//! It prints the figures of each step.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::Command;
use std::time::Instant;

use chrono::{Datelike, Utc};
use events::domain::territoire;
use events::{AppendRequest, EventStore, ExpectedVersion, NewEvent, StoreConfig};
use projections::voeux::VoeuxProjection;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use support::env_usize;
use support::http::Server;
use tba::auth::keys::{self, KeySpec, Role, Scope};

const DB: &str = "tba_bench_voeux";
const BASE_DB: &str = "tba_bench_voeux_base";
/// Events per append, as the import writes them per transaction.
const CHUNK: i64 = 5000;
const NOMS: &[&str] =
    &["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Le Goff", "N'Diaye"];
const PRENOMS: &[&str] =
    &["Léa", "Emma", "Jade", "Louise", "Gabriel", "Léo", "Raphaël", "Noah", "Chloé", "Hugo"];

/// The file: `rows` vœux of the rentrée, and the académies it holds.
fn write_file(path: &std::path::Path, rows: usize, rentree: i32) -> anyhow::Result<Vec<String>> {
    let mut academies: Vec<String> =
        territoire::departements().into_iter().map(|d| d.academie.clone()).collect();
    academies.sort();
    academies.dedup();
    let mut rng = StdRng::seed_from_u64(11);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "academie;ine;nom;prenom1;prenom2;date_naissance;email;telephone;cle_formation;cfd;libelle_formation;\
         uai_formateur;rang;rentree"
    )?;
    let (mut written, mut candidat) = (0, 0u64);
    while written < rows {
        candidat += 1;
        let a = rng.random_range(0..academies.len());
        let academie = &academies[a];
        let ine = if rng.random_bool(0.85) { format!("{:09}AB", candidat) } else { String::new() };
        // Namesakes born the same day would be one person: a name of their own for each candidate.
        let suffix: String = (0..4).map(|i| char::from(b'a' + ((candidat >> (5 * i)) % 26) as u8)).collect();
        let nom = format!("{}-{suffix}", NOMS[rng.random_range(0..NOMS.len())]);
        let prenom = PRENOMS[rng.random_range(0..PRENOMS.len())];
        let naissance =
            format!("{:02}/{:02}/{}", rng.random_range(1..29), rng.random_range(1..13), rentree - 15);
        let voeux = rng.random_range(1..=4).min(rows - written);
        for rang in 1..=voeux {
            let organisme = a * 100 + rng.random_range(0..100);
            let cfd = ["50022137", "50022140", "40025214", "50023325"][rng.random_range(0..4)];
            writeln!(
                out,
                "{academie};{ine};{nom};{prenom};;{naissance};c{candidat}@example.net;06{:08};AFF{cfd}{rang};{cfd};\
                 CAP;{:07}{};{rang};{rentree}",
                candidat % 100_000_000,
                organisme,
                char::from(b'A' + (organisme % 26) as u8),
            )?;
        }
        written += voeux;
    }
    out.flush()?;
    Ok(academies)
}

fn import(url: &str, file: &std::path::Path) -> anyhow::Result<(f64, String)> {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_tba"))
        .args(["voeux", "import", "--source", "affelnet"])
        .arg(file)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .output()?;
    let seconds = started.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(output.status.success(), "import failed: {log}");
    for line in log.lines().filter(|l| l.contains("vœux")) {
        println!("  {}", line.trim());
    }
    Ok((seconds, String::from_utf8_lossy(&output.stdout).trim().to_owned()))
}

/// Ask `query` `n` times, one after the other; the latencies' p50 and p99 in ms.
async fn latencies(address: &str, key: Option<&str>, query: &str, n: usize) -> anyhow::Result<(f64, f64)> {
    let client = reqwest::Client::new();
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 5 {
        let mut request = client.post(format!("http://{address}/graphql")).json(&json!({ "query": query }));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let started = Instant::now();
        let answer: Value = request.send().await?.json().await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(answer.get("errors").is_none(), "{query}: {answer}");
        if i >= 5 {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((support::percentile(&times, 50.0), support::percentile(&times, 99.0)))
}

/// The baseline: every vœu event of `store`, read back and opened, appended again into a fresh
/// database by the store's batched append, CHUNK events per call, one request per candidate, sealed for
/// the same person as the import sealed them. The events and the seconds spent appending.
async fn append_again(store: &EventStore, config: StoreConfig) -> anyhow::Result<(usize, f64)> {
    let (base, _) = support::scratch(BASE_DB, 4).await?;
    let base = EventStore::start(base, config).await?;
    let (mut after, mut events, mut spent) = (0, 0, std::time::Duration::ZERO);
    loop {
        let read = store.read_category("candidat", after, CHUNK).await?;
        let Some(last) = read.last() else { break };
        // The person each event was sealed for, as the log stores it.
        let personnes: HashMap<i64, String> = sqlx::query_as(
            "SELECT position, data->'candidat'->>'personne' FROM events
             WHERE position BETWEEN $1 AND $2 AND data->'candidat'->>'personne' IS NOT NULL",
        )
        .bind(read[0].position)
        .bind(last.position)
        .fetch_all(store.pool())
        .await?
        .into_iter()
        .collect();
        after = last.position;
        events += read.len();
        let mut by_stream: BTreeMap<String, Vec<NewEvent>> = BTreeMap::new();
        for e in read {
            let mut new =
                NewEvent::new(e.event_type, e.data).occurred_at(e.occurred_at).with_metadata(e.metadata);
            new.personne = personnes.get(&e.position).cloned();
            by_stream.entry(e.stream_id).or_default().push(new);
        }
        let requests: Vec<AppendRequest> = by_stream
            .into_iter()
            .map(|(stream, events)| AppendRequest::new(stream, ExpectedVersion::Any, events))
            .collect();
        let started = Instant::now();
        for outcome in base.append_many(requests).await {
            outcome?;
        }
        spent += started.elapsed();
    }
    Ok((events, spent.as_secs_f64()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows = env_usize("BENCH_ROWS", 500_000);
    let queries = env_usize("BENCH_QUERIES", 200);
    let today = Utc::now().date_naive();
    let rentree = if today.month() >= 8 { today.year() } else { today.year() - 1 };
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("affelnet.csv");
    let academies = write_file(&file, rows, rentree)?;
    println!(
        "file: {rows} rows, {} académies, {:.0} MB",
        academies.len(),
        std::fs::metadata(&file)?.len() as f64 / 1e6
    );
    let (pool, url) = support::scratch(DB, 4).await?;

    let (seconds, report) = import(&url, &file)?;
    let import_rate = rows as f64 / seconds;
    println!("first import: {seconds:.1} s, {import_rate:.0} rows/s — {report}");

    // The import sealed the candidates' personal data with the master key of TBA_HOME (`.tba`).
    let home = std::env::var("TBA_HOME").unwrap_or_else(|_| ".tba".to_owned());
    let vault = tba::master_key::vault(&tba::master_key::KeyArgs::default(), std::path::Path::new(&home))?;
    let config = StoreConfig { vault: Some(vault.clone()), ..StoreConfig::default() };
    let store = EventStore::start(pool.clone(), config.clone()).await?;
    let (events, seconds) = append_again(&store, config).await?;
    let base_rate = events as f64 / seconds;
    println!(
        "baseline, the same {events} events appended by append_many, {CHUNK} per call: {seconds:.1} s, \
         {base_rate:.0} events/s; the import's rows/s are {:.2} of it",
        import_rate / base_rate
    );

    let (seconds, report) = import(&url, &file)?;
    println!("unchanged re-import: {seconds:.1} s, {:.0} rows/s — {report}", rows as f64 / seconds);
    let took = support::built(&store, &VoeuxProjection::default().with_vault(Some(vault))).await?;
    println!("voeux read model built in {:.1} s", took.as_secs_f64());
    store.flush().await?;

    let analyst = KeySpec { role: Role::Analyst, organisme: None, scope: None, label: None };
    let (_, analyst) = keys::create(&pool, &analyst).await?;
    let scope: Scope = "ACADEMIE:10".parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let academie = KeySpec { role: Role::Academie, organisme: None, scope: Some(scope), label: None };
    let (_, academie) = keys::create(&pool, &academie).await?;
    let mut server = Server::start(&url)?;
    server.ready().await?;
    let funnel = format!(
        "{{ funnel(source: AFFELNET, rentree: {rentree}, groupBy: ACADEMIE) {{ cle voeux candidats inscrits \
         apprentis maintenus tauxConversion }} }}"
    );
    let (p50, p99) = latencies(&server.address, Some(&analyst), &funnel, queries).await?;
    println!("funnel by académie, every académie (ANALYST): p50 {p50:.1} ms, p99 {p99:.1} ms");
    let (p50, p99) = latencies(&server.address, Some(&academie), &funnel, queries).await?;
    println!("funnel by académie, académie 10 (ACADEMIE): p50 {p50:.1} ms, p99 {p99:.1} ms");
    // The file's candidates have no dossier: count 30 % of them as under contract in the read model (as
    // matching would: a first day in September or October, one in five broken within 200 days).
    let updated = sqlx::query(
        "INSERT INTO rm_voeux_contrats (source, rentree, niveau, cle, region, debut, duree, candidats)
         SELECT source, rentree, niveau, cle, region, debut, duree, count(*)
         FROM (SELECT source, rentree, niveau, cle, region,
                      date '2026-09-01' + abs(hashtext(candidat) % 60) AS debut,
                      CASE WHEN abs(hashtext(candidat) % 5) = 0 THEN abs(hashtext(candidat) % 200) ELSE -1 END
                        AS duree
               FROM rm_voeux_candidats WHERE abs(hashtext(candidat) % 10) < 3) AS c
         GROUP BY 1, 2, 3, 4, 5, 6, 7",
    )
    .execute(&pool)
    .await?
    .rows_affected();
    let under: i64 =
        sqlx::query_scalar("SELECT sum(candidats)::bigint FROM rm_voeux_contrats WHERE niveau = 'academie'")
            .fetch_one(&pool)
            .await?;
    let (p50, p99) = latencies(&server.address, Some(&analyst), &funnel, queries).await?;
    println!("same, {under} candidates under contract ({updated} rows): p50 {p50:.1} ms, p99 {p99:.1} ms");
    let (p50, p99) = latencies(&server.address, None, "{ logHead { position } }", queries).await?;
    println!("logHead (baseline): p50 {p50:.1} ms, p99 {p99:.1} ms");
    server.stop();
    Ok(())
}
