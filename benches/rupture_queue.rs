//! The Missions Locales' rupture queue, end to end: `cargo bench --bench rupture_queue` (private
//! cluster, or the server of `DATABASE_URL`; needs `wrk`: `apt-get install wrk`).
//!
//! It takes the large log of the read-side benchmarks, its personal data sealed as a service writes it
//! (BENCH_DOSSIERS, default 1,000,000 dossiers of
//! `tba demo`'s generator), adds the demo's Missions Locales (one per département) if the log has none,
//! and brings the `dossiers` and `ruptures` read models up to the head (from their checkpoints, as the
//! service would; timing the `ruptures` build when there was none).
//! Then, against the release `tba serve` (its projections running):
//! 1. **latency**: BENCH_RUPTURES (default 200) times, one after the other, a rupture is appended to the
//!    log for a random young apprentice (a `RuptureEnregistree` of their ongoing contract, yesterday, at
//!    the dossier's version, as an ERP push would record it), and the Mission Locale of their residence
//!    asks `rupture(id)` with its own key every 5 ms until the entry answers with that rupture: the time
//!    from the append's commit to that answer;
//! 2. **first page**: `wrk`, with each of BENCH_CONNECTIONS (default `4,50`) connections in turn for
//!    BENCH_SECONDS (default 20),
//!    each request the first page (20 entries, with identity and contacts) of the queue of one of the
//!    Missions Locales, with that Mission Locale's key (500 prepared requests: the 100 largest queues
//!    and 400 others at random; BENCH_PAGE_QUERY replaces the query).
//!
//!    Each load is followed by the same pages with the identities folded from each dossier's events
//!    (the queue's dossiers' sealed identities set aside meanwhile), then the same load of `logHead`
//!    (public, one indexed read): the machine's own tail, side by side.
//!
//! It prints the queue's size, the latency percentiles and wrk's figures.

mod support;

use std::collections::HashMap;
use std::process::Command;

use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::env_usize;
use support::http::{Server, check, wrk};
use support::ruptures::{MlKeys, rupture_latencies};

const PAGES: usize = 500;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dossiers = env_usize("BENCH_DOSSIERS", 1_000_000);
    let ruptures = env_usize("BENCH_RUPTURES", 200);
    let connections: Vec<usize> = std::env::var("BENCH_CONNECTIONS")
        .unwrap_or_else(|_| "4,50".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let seconds = env_usize("BENCH_SECONDS", 20);
    anyhow::ensure!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is needed: apt-get install wrk"
    );
    let today = Utc::now().date_naive();
    let (pool, store, build) = support::ruptures::queue_log(dossiers, today).await?;
    let head = store.head().await?.position;
    if let Some(build) = build {
        println!("ruptures built from {head} events in {:.1} s", build.as_secs_f64());
    }
    let (entries, visible, largest): (i64, i64, i64) = sqlx::query_as(
        "WITH q AS (SELECT DISTINCT ON (entree) * FROM rm_ruptures
                    WHERE active AND ml_id IS NOT NULL AND date_rupture <= $1 ORDER BY entree, date_rupture DESC)
         SELECT (SELECT count(*) FROM q),
                (SELECT count(*) FROM q WHERE sortie IS NULL OR sortie > $1 OR situation IS NOT NULL),
                (SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM q
                     WHERE sortie IS NULL OR sortie > $1 OR situation IS NOT NULL GROUP BY ml_id) m)",
    )
    .bind(today)
    .fetch_one(&pool)
    .await?;

    let mut server = Server::start(&support::sealed_log_url().await?)?;
    let address = server.address.clone();
    server.ready().await?;
    // Measure a service at rest: every projection it runs caught up (on a log it never served, it
    // builds `voeux` and `france_travail` first).
    let caught = support::projections_caught_up(&pool).await?;
    println!("service caught up: {}", support::caught_up_text(&caught));
    let mut keys = MlKeys { pool: pool.clone(), keys: HashMap::new() };
    println!(
        "{dossiers} dossiers, {head} events; {entries} entries in queues today, {visible} visible \
         (largest queue {largest})"
    );

    // 1. From a rupture's commit to the Mission Locale's answer.
    let mut rng = StdRng::seed_from_u64(11);
    let latencies = rupture_latencies(&store, &pool, &address, &mut keys, today, ruptures).await?;
    println!(
        "  rupture append → ML's rupture(id) ({} ruptures): {}",
        latencies.len(),
        support::percentiles(&latencies)
    );

    // 2. The first page of a queue, under load.
    let mut mls: Vec<String> = sqlx::query_scalar(
        "SELECT ml_id FROM rm_ruptures WHERE active AND ml_id IS NOT NULL GROUP BY ml_id ORDER BY count(*) DESC",
    )
    .fetch_all(&pool)
    .await?;
    let others = mls.split_off(mls.len().min(100));
    let mut requests = Vec::with_capacity(PAGES);
    let default_page = "{ ruptures(first: 20) { edges { cursor node { id dateRupture moisRupture prioritaire liste \
                nouveauContrat age situation dossier { id apprenant { nom prenom telephone email } } } } \
                pageInfo { hasNextPage endCursor } } }";
    let page = std::env::var("BENCH_PAGE_QUERY").unwrap_or_else(|_| default_page.to_owned());
    for i in 0..PAGES {
        let ml = match mls.get(i) {
            Some(ml) => ml.clone(),
            None if !others.is_empty() => others[rng.random_range(0..others.len())].clone(),
            None => mls[rng.random_range(0..mls.len())].clone(),
        };
        requests.push((keys.of(&ml).await?, page.clone()));
    }
    check(&address, &requests, "ruptures").await?;
    // The baseline, side by side: the cheapest request the service answers (no key, one indexed read).
    let baseline = vec![(String::new(), "{ logHead { position } }".to_owned())];
    for connections in connections {
        let report = wrk(&address, &requests, connections, seconds)?;
        println!(
            "  ruptures(first: 20), {} Missions Locales, {connections} connections: {report}",
            mls.len() + others.len()
        );
        // The same pages with the identities folded from each dossier's events, as before the rows
        // kept them sealed: the queue's dossiers' sealed identities set aside for the load.
        identities_kept(&pool, false).await?;
        let folded = wrk(&address, &requests, connections, seconds);
        identities_kept(&pool, true).await?;
        println!("  the same, identities folded from the log, {connections} connections: {}", folded?);
        let report = wrk(&address, &baseline, connections, seconds)?;
        println!("  baseline logHead, {connections} connections: {report}");
    }
    check(&address, &requests, "ruptures").await?;
    server.stop();
    Ok(())
}

/// Set aside (`kept` false) or put back the sealed identities of the queue's dossiers' rows: without
/// them, the service folds each dossier's events for its identity.
async fn identities_kept(pool: &sqlx::PgPool, kept: bool) -> anyhow::Result<()> {
    let statements: &[&str] = if kept {
        &[
            "UPDATE rm_dossiers d SET apprenant = b.apprenant FROM bench_identites b WHERE b.dossier_id = d.dossier_id",
            "DROP TABLE bench_identites",
        ]
    } else {
        &[
            "CREATE TABLE bench_identites AS SELECT dossier_id, apprenant FROM rm_dossiers
             WHERE apprenant IS NOT NULL AND dossier_id IN (SELECT dossier_id FROM rm_ruptures)",
            "UPDATE rm_dossiers d SET apprenant = NULL FROM bench_identites b WHERE b.dossier_id = d.dossier_id",
        ]
    };
    for statement in statements {
        sqlx::query(*statement).execute(pool).await?;
    }
    Ok(())
}
