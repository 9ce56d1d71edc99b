//! GraphQL over HTTP under load, end to end: `cargo bench --bench graphql_http` (private cluster, or
//! the server of `DATABASE_URL`; needs `wrk`, from Debian's packages: `apt-get install wrk`).
//!
//! It takes the large log of the read-side benchmarks (`read_models`: BENCH_DOSSIERS, default
//! 1,000,000 dossiers of `tba demo`'s generator), loading it if no previous run left it and building
//! the read model if it is behind the log; starts the release `tba serve` on it in its own process
//! (rate limit lifted); then drives it with `wrk`, BENCH_CONNECTIONS (default 50) concurrent
//! connections on 2 threads for BENCH_SECONDS (default 20) per phase, each request picked at random
//! among 500 prepared ones:
//! 1. `indicateurs(date, groupBy: REGION)` at 500 random dates of the last three school years, with an
//!    ANALYST key;
//! 2. `dossier(id)` with its parcours and status, for 500 random dossiers, with an AUDITOR key (each
//!    read is recorded in the access log before it is answered).
//!
//! It prints wrk's requests/s and latency percentiles for each phase. Every prepared request is first
//! sent once and checked to answer data without error.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use events::{EventStore, StoreConfig};
use projections::build;
use projections::dossiers::DossiersProjection;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use support::env_usize;
use tba::auth::keys::{self, KeySpec, Role};

const QUESTIONS: usize = 500;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dossiers = env_usize("BENCH_DOSSIERS", 1_000_000);
    let connections = env_usize("BENCH_CONNECTIONS", 50);
    let seconds = env_usize("BENCH_SECONDS", 20);
    anyhow::ensure!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is needed: apt-get install wrk"
    );
    let today = chrono::Utc::now().date_naive();
    let pool = support::large_log(dossiers, true, today).await?;
    let store = EventStore::start(pool.clone(), StoreConfig::default()).await?;
    let head = store.head().await?.position;
    let position: i64 =
        sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM checkpoints WHERE name = $1")
            .bind(support::dossiers_checkpoint())
            .fetch_one(&pool)
            .await?;
    if position < head {
        println!("building the read model ({position} of {head} events projected)");
        let projector = DossiersProjection::default();
        build::create_schema(&pool, &projector, "rebuild_dossiers").await?;
        let built = build::project_until(&store, &projector, "rebuild_dossiers", None, |_, _| {}).await?;
        build::swap(&store, &projector, "rebuild_dossiers", built).await?;
    }
    let key = |role| {
        let pool = pool.clone();
        async move {
            let spec =
                KeySpec { role, organisme: None, scope: None, label: Some("graphql_http bench".into()) };
            anyhow::Ok(keys::create(&pool, &spec).await?.1)
        }
    };
    let (analyst, auditor) = (key(Role::Analyst).await?, key(Role::Auditor).await?);

    let mut rng = StdRng::seed_from_u64(5);
    let (first, days) = support::last_three_school_years(today);
    let indicateurs: Vec<String> = (0..QUESTIONS)
        .map(|_| {
            let date = first + chrono::Duration::days(rng.random_range(0..=days));
            format!(
                "{{ indicateurs(date: \"{date}\", groupBy: REGION) \
                 {{ cle libelle apprentis inscrits rupturants abandons apprenants }} }}"
            )
        })
        .collect();
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT dossier_id FROM rm_dossiers ORDER BY random() LIMIT $1")
            .bind(QUESTIONS as i64)
            .fetch_all(&pool)
            .await?;
    let dossier_queries: Vec<String> = ids
        .iter()
        .map(|id| format!("{{ dossier(id: \"{id}\") {{ id statut parcours {{ date statut }} }} }}"))
        .collect();

    let mut server = Server::start(&support::large_log_url().await?)?;
    let address = server.address.clone();
    server.ready().await?;
    println!(
        "{dossiers} dossiers, {head} events; wrk: {connections} connections, 2 threads, {seconds} s per phase, \
         {QUESTIONS} different requests each"
    );
    for (name, key, queries, field) in [
        ("indicateurs(groupBy: REGION, date: random)", &analyst, &indicateurs, "indicateurs"),
        ("dossier(id: random) { parcours statut }", &auditor, &dossier_queries, "dossier"),
    ] {
        check(&address, key, queries, field).await?;
        let report = wrk(&address, key, queries, connections, seconds)?;
        println!("  {name:<44} {report}");
        // The service still answers every question right after the load.
        check(&address, key, queries, field).await?;
    }
    server.stop();
    Ok(())
}

/// Every query answers data for `field`, without error.
async fn check(address: &str, key: &str, queries: &[String], field: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for query in queries {
        let answer: Value = client
            .post(format!("http://{address}/graphql"))
            .bearer_auth(key)
            .json(&json!({ "query": query }))
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(
            answer.get("errors").is_none() && !answer["data"][field].is_null(),
            "{query}: {answer}"
        );
    }
    Ok(())
}

/// Run wrk with the queries as bodies picked at random; its requests/s and latency percentiles.
fn wrk(
    address: &str,
    key: &str,
    queries: &[String],
    connections: usize,
    seconds: usize,
) -> anyhow::Result<String> {
    let bodies: Vec<String> = queries.iter().map(|q| format!("[==[{}]==]", json!({ "query": q }))).collect();
    let script = format!(
        "local bodies = {{ {} }}\n\
         wrk.method = \"POST\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = \"Bearer {key}\"\n\
         local threads = 0\n\
         function setup(thread) threads = threads + 1; thread:set(\"seed\", threads) end\n\
         function init(args) math.randomseed(seed * 7919) end\n\
         function request() return wrk.format(nil, \"/graphql\", nil, bodies[math.random(#bodies)]) end\n",
        bodies.join(",\n")
    );
    let path = std::env::temp_dir().join("tba-graphql-bench.lua");
    std::fs::write(&path, script)?;
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(&path)
        .arg(format!("http://{address}/graphql"))
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(output.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    let line = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    };
    if let Some(failed) = line("Non-2xx or 3xx responses:") {
        anyhow::bail!("{failed} requests failed under load:\n{text}");
    }
    Ok(format!(
        "{} requests/s; latency p50 {}, p90 {}, p99 {}",
        line("Requests/sec:").unwrap_or_default(),
        line("50%").unwrap_or_default(),
        line("90%").unwrap_or_default(),
        line("99%").unwrap_or_default(),
    ))
}

/// The release `tba serve`, in its own process.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(database_url: &str) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_tba"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("TBA_LISTEN", &address)
            .env("TBA_RATE_LIMIT", "1000000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Server { child, address })
    }

    async fn ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(response) = reqwest::get(format!("http://{}/readyz", self.address)).await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::bail!("tba serve did not become ready")
    }

    fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}
