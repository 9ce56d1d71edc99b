//! The Missions Locales' rupture queue, end to end: `cargo bench --bench rupture_queue` (private
//! cluster, or the server of `DATABASE_URL`; needs `wrk`: `apt-get install wrk`).
//!
//! It takes the large log of the read-side benchmarks (BENCH_DOSSIERS, default 1,000,000 dossiers of
//! `tba demo`'s generator), adds the demo's Missions Locales (one per département) if the log has none,
//! and brings the `dossiers` and `ruptures` read models up to the head (timing the `ruptures` build).
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
//!    Each load is followed by the same load of `logHead` (public, one indexed read): the machine's own
//!    tail, side by side.
//!
//! It prints the queue's size, the latency percentiles and wrk's figures.

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use events::domain::communes;
use events::dossier::event::Rupture;
use events::dossier::{Dossier, DossierEvent};
use events::{EventStore, ExpectedVersion, Metadata, StoreConfig};
use projections::dossiers::DossiersProjection;
use projections::ruptures::RupturesProjection;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::PgPool;
use support::env_usize;
use support::http::{Server, check, wrk};
use tba::auth::keys::{self, KeySpec, Role};

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
    let pool = support::large_log(dossiers, true, today).await?;
    let known: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE category = 'mission_locale'")
        .fetch_one(&pool)
        .await?;
    if known == 0 {
        let missions = tba::ingestion::missions_locales::parse_csv(
            tba::demo::generate::missions_locales_csv().as_bytes(),
        )
        .map_err(|errors| anyhow::anyhow!("demo Missions Locales refused: {}", errors[0]))?;
        tba::ingestion::missions_locales::import(&pool, missions, Metadata::default()).await?;
    }
    let store = EventStore::start(pool.clone(), StoreConfig::default()).await?;
    support::built(&store, &DossiersProjection::default()).await?;
    let build = support::built(&store, &RupturesProjection::default()).await?;
    let head = store.head().await?.position;
    if !build.is_zero() {
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

    let mut server = Server::start(&support::large_log_url().await?)?;
    let address = server.address.clone();
    server.ready().await?;
    let mut keys = MlKeys { pool: pool.clone(), keys: HashMap::new() };
    println!(
        "{dossiers} dossiers, {head} events; {entries} entries in queues today, {visible} visible \
         (largest queue {largest})"
    );

    // 1. From a rupture's commit to the Mission Locale's answer.
    let mut rng = StdRng::seed_from_u64(11);
    let candidates = apprentices(&pool, today, ruptures * 3).await?;
    let client = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(ruptures);
    for (dossier_id, personne, ml) in candidates {
        if latencies.len() == ruptures {
            break;
        }
        let Some(date) = append_rupture(&store, &dossier_id, today).await? else { continue };
        let committed = Instant::now();
        let key = keys.of(&ml).await?;
        let query =
            json!({ "query": format!("{{ rupture(id: \"{personne}\") {{ dateRupture visible }} }}") });
        loop {
            let answer: Value = client
                .post(format!("http://{address}/graphql"))
                .bearer_auth(&key)
                .json(&query)
                .send()
                .await?
                .json()
                .await?;
            if answer["data"]["rupture"]["dateRupture"] == json!(date) {
                break;
            }
            anyhow::ensure!(
                committed.elapsed() < Duration::from_secs(30),
                "{personne} never reached {ml}: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(committed.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..50))).await;
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "  rupture append → ML's rupture(id) ({} ruptures): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        support::percentile(&latencies, 50.0),
        support::percentile(&latencies, 90.0),
        support::percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or_default(),
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
        let report = wrk(&address, &baseline, connections, seconds)?;
        println!("  baseline logHead, {connections} connections: {report}");
    }
    check(&address, &requests, "ruptures").await?;
    server.stop();
    Ok(())
}

/// One MISSION_LOCALE key per Mission Locale, created when first needed.
struct MlKeys {
    pool: PgPool,
    keys: HashMap<String, String>,
}

impl MlKeys {
    async fn of(&mut self, ml: &str) -> anyhow::Result<String> {
        if let Some(key) = self.keys.get(ml) {
            return Ok(key.clone());
        }
        let spec = KeySpec {
            role: Role::MissionLocale,
            organisme: None,
            scope: Some(format!("MISSION_LOCALE:{ml}").parse().map_err(anyhow::Error::msg)?),
            label: Some("rupture_queue bench".into()),
        };
        let key = keys::create(&self.pool, &spec).await?.1;
        self.keys.insert(ml.to_owned(), key.clone());
        Ok(key)
    }
}

/// Dossiers of 17-to-24-year-olds under contract today, without an entry yet, whose residence a
/// Mission Locale serves: (dossier, person, Mission Locale), from a random sample of the dossiers.
async fn apprentices(
    pool: &PgPool,
    today: NaiveDate,
    n: usize,
) -> anyhow::Result<Vec<(String, String, String)>> {
    use projections::status::{ChangePoint, Statut};
    type Sampled = (String, String, sqlx::types::Json<Vec<ChangePoint>>, Option<String>, Option<String>);
    let rows: Vec<Sampled> = sqlx::query_as(
        "SELECT d.dossier_id, d.personne, d.parcours, d.code_commune_insee, d.code_postal
         FROM rm_rupture_dossiers d TABLESAMPLE SYSTEM (5) REPEATABLE (11)
         WHERE NOT d.retire AND d.date_de_naissance BETWEEN ($1::date - interval '24 years')::date
                                                        AND ($1::date - interval '17 years')::date
           AND NOT EXISTS (SELECT 1 FROM rm_ruptures r WHERE r.entree = d.personne)",
    )
    .bind(today)
    .fetch_all(pool)
    .await?;
    let owners: HashMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT commune, ml_id FROM rm_ml_communes")
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    Ok(rows
        .into_iter()
        .filter(|(_, _, parcours, _, _)| {
            parcours.0.iter().rfind(|p| p.date <= today).map(|p| p.statut) == Some(Statut::Apprenti)
        })
        .filter_map(|(dossier, personne, _, insee, cp)| {
            let ml = communes::candidats(insee.as_deref(), cp.as_deref())
                .iter()
                .find_map(|c| owners.get(c).cloned())?;
            Some((dossier, personne, ml))
        })
        .take(n)
        .collect())
}

/// Record yesterday's rupture of the dossier's ongoing contract, at the version read; the rupture day,
/// or none when the dossier has no contract to break.
async fn append_rupture(
    store: &EventStore,
    dossier_id: &str,
    today: NaiveDate,
) -> anyhow::Result<Option<NaiveDate>> {
    let date = today - chrono::Duration::days(1);
    let events = store.read_stream(dossier_id, 1, i64::MAX).await?;
    let dossier = Dossier::from_recorded(events.iter())?;
    let Some(contrat) = dossier.contrats.values().rfind(|c| {
        c.rupture.is_none() && c.contrat.date_debut < date && c.contrat.date_fin.is_none_or(|fin| date <= fin)
    }) else {
        return Ok(None);
    };
    let event = DossierEvent::RuptureEnregistree(Rupture {
        date_debut_contrat: contrat.contrat.date_debut,
        date_rupture: date,
        cause: Some("bench".into()),
    });
    let version = events.last().map_or(0, |e| e.version);
    store
        .append(
            dossier_id.to_owned(),
            ExpectedVersion::Exact(version),
            vec![event.to_new_event(date, Metadata::default())],
        )
        .await?;
    Ok(Some(date))
}
