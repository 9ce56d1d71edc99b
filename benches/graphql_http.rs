//! GraphQL over HTTP under load, end to end: `cargo bench --bench graphql_http` (private cluster, or
//! the server of `DATABASE_URL`; needs `wrk`, from Debian's packages: `apt-get install wrk`).
//!
//! It takes the large log of the read-side benchmarks, its personal data sealed as a service writes it
//! (BENCH_DOSSIERS, default 1,000,000 dossiers of `tba demo`'s generator), loading it if no previous run left it and building
//! the read models if they are behind the log (every projection the service runs, so that none is built
//! during the measures); starts the release `tba serve` on it in its own process
//! (rate limit lifted); then drives it with `wrk`, BENCH_CONNECTIONS (default 50) concurrent
//! connections on 2 threads for BENCH_SECONDS (default 20) per phase, each request picked at random
//! among 500 prepared ones:
//! 1. `indicateurs(date, groupBy: REGION)` at 500 random dates of the last three school years, with an
//!    ANALYST key;
//! 2. `dossier(id)` with its parcours and status, for 500 random dossiers, with an AUDITOR key (each
//!    read is recorded in the access log before it is answered);
//! 3. the baseline: `logHead` (public, no key, one indexed read), the machine's own figures in the same
//!    run, and each phase's throughput and p99 as ratios to it.
//!
//! It prints wrk's requests/s and latency percentiles for each phase. Every prepared request is first
//! sent once and checked to answer data without error.

mod support;

use std::process::Command;

use events::{EventStore, StoreConfig};
use projections::dossiers::DossiersProjection;
use projections::france_travail::FranceTravailProjection;
use projections::ruptures::RupturesProjection;
use projections::voeux::VoeuxProjection;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::env_usize;
use support::http::{Requete, Server, charge, check};
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
    let pool = support::sealed_large_log(dossiers, true, today).await?;
    let vault = Some(support::vault());
    let store =
        EventStore::start(pool.clone(), StoreConfig { vault: vault.clone(), ..Default::default() }).await?;
    // Every projection the service runs is brought to the head first, so that none is built in the
    // background during the measures.
    support::caught_up(&store, DossiersProjection::default().with_vault(vault.clone())).await?;
    support::caught_up(&store, RupturesProjection::default().with_vault(vault.clone())).await?;
    support::caught_up(&store, VoeuxProjection::default().with_vault(vault.clone())).await?;
    support::caught_up(&store, FranceTravailProjection::default().with_vault(vault.clone())).await?;
    let head = store.head().await?.position;
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

    let mut server = Server::start(&support::sealed_log_url().await?)?;
    let address = server.address.clone();
    server.ready().await?;
    println!(
        "{dossiers} dossiers, {head} events; wrk: {connections} connections, 2 threads, {seconds} s per phase, \
         {QUESTIONS} different requests each"
    );
    let log_head = vec!["{ logHead { position } }".to_owned()];
    let mut baseline = None;
    for (name, key, queries, field) in [
        ("baseline logHead (public, no key)", &String::new(), &log_head, "logHead"),
        ("indicateurs(groupBy: REGION, date: random)", &analyst, &indicateurs, "indicateurs"),
        ("dossier(id: random) { parcours statut }", &auditor, &dossier_queries, "dossier"),
    ] {
        let requests: Vec<(String, String)> = queries.iter().map(|q| (key.clone(), q.clone())).collect();
        check(&address, &requests, field).await?;
        let load: Vec<Requete> = requests.iter().map(|(key, q)| Requete::graphql(key, q)).collect();
        let report = charge(&address, &load, connections, seconds)?;
        let base = *baseline.get_or_insert(report);
        println!(
            "  {name:<44} {report}; {:.2} of logHead's requests/s, p99 {:.2}× logHead's",
            report.per_second / base.per_second,
            report.p99 / base.p99
        );
        // The service still answers every question right after the load.
        check(&address, &requests, field).await?;
    }
    server.stop();
    Ok(())
}
