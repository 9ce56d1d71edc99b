//! France Travail's queue, end to end: `cargo bench --bench france_travail` (private cluster, or the
//! server of `DATABASE_URL`).
//!
//! It takes the large log of the read-side benchmarks, its personal data sealed as a service writes it
//! (BENCH_DOSSIERS, default 1,000,000 dossiers of `tba demo`'s generator), adds the demo's Missions
//! Locales and formations referential if the log has none, and brings the `dossiers`, `ruptures` and
//! `france_travail` read models up to the head (timing the `france_travail` build). Then, against the
//! release `tba serve` (its projections running), BENCH_CHANGES (default 200) times each, one
//! after the other:
//! 1. **enrolment → visible**: a new dossier of an adult enrolled without a contract is appended (as an
//!    ERP push records it), and a FRANCE_TRAVAIL advisor of the région of residence asks
//!    `franceTravailEntree(id)` every 5 ms until the entry is in the queue;
//! 2. **status change → gone**: the same dossiers get a contract starting today, and the advisor asks
//!    until the entry has left the queue;
//! 3. **baseline, side by side**: a rupture appended for a young apprentice, and the Mission Locale asks
//!    `rupture(id)` until it answers with it (the rupture queue's own measure).
//!
//! It prints the queue's size and the latency percentiles of each.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use events::dossier::Dossier;
use events::{EventStore, ExpectedVersion, Metadata, StoreConfig};
use projections::dossiers::DossiersProjection;
use projections::france_travail::FranceTravailProjection;
use projections::france_travail::episodes::territoire_de;
use projections::ruptures::RupturesProjection;
use serde_json::{Value, json};
use support::env_usize;
use support::http::Server;
use support::ruptures::{MlKeys, rupture_latencies};
use tba::auth::keys::{self, KeySpec, Role};
use tba::ingestion::{diff, v3};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dossiers = env_usize("BENCH_DOSSIERS", 1_000_000);
    let changes = env_usize("BENCH_CHANGES", 200);
    let today = Utc::now().date_naive();
    let pool = support::sealed_large_log(dossiers, true, today).await?;
    let vault = Some(support::vault());
    let count = |category: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events WHERE category = $1")
                .bind(category)
                .fetch_one(&pool)
                .await
        }
    };
    if count("mission_locale").await? == 0 {
        let missions = tba::ingestion::missions_locales::parse_csv(
            tba::demo::generate::missions_locales_csv().as_bytes(),
        )
        .map_err(|errors| anyhow::anyhow!("demo Missions Locales refused: {}", errors[0]))?;
        tba::ingestion::missions_locales::import(&pool, missions, Metadata::default()).await?;
    }
    if count("formation").await? == 0 {
        let formations =
            tba::ingestion::formations::parse_csv(tba::demo::generate::formations_csv().as_bytes())
                .map_err(|errors| anyhow::anyhow!("demo formations refused: {}", errors[0]))?;
        tba::ingestion::formations::import(&pool, formations, Metadata::default()).await?;
    }
    let store =
        EventStore::start(pool.clone(), StoreConfig { vault: vault.clone(), ..Default::default() }).await?;
    support::caught_up(&store, DossiersProjection::default().with_vault(vault.clone())).await?;
    support::caught_up(&store, RupturesProjection::default().with_vault(vault.clone())).await?;
    let build = support::built(&store, &FranceTravailProjection::default().with_vault(vault.clone())).await?;
    let head = store.head().await?.position;
    if !build.is_zero() {
        println!("france_travail built from {head} events in {:.1} s", build.as_secs_f64());
    }
    let (visible, regions, largest): (i64, i64, i64) = sqlx::query_as(
        "WITH q AS (SELECT DISTINCT ON (entree) * FROM rm_ft_entrees
                    WHERE active AND debut <= $1 AND (fin IS NULL OR fin > $1)
                      AND date_de_naissance <= ($1 - interval '18 years')::date ORDER BY entree, debut DESC)
         SELECT (SELECT count(*) FROM q), (SELECT count(DISTINCT region) FROM q),
                (SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM q GROUP BY region) r)",
    )
    .bind(today)
    .fetch_one(&pool)
    .await?;
    println!(
        "{dossiers} dossiers, {head} events; {visible} adults enrolled without a contract today in {regions} \
         régions (largest région {largest})"
    );

    let mut server = Server::start(&support::sealed_log_url().await?)?;
    let address = server.address.clone();
    server.ready().await?;
    let client = reqwest::Client::new();
    let mut ft_keys: HashMap<String, String> = HashMap::new();

    // New adults enrolled without a contract: the demo's dossiers, made so, under ids of this run.
    let run = Utc::now().timestamp();
    let demo = tba::demo::generate(changes * 2, 99, today);
    // Under the benchmark's name: the large log still knows its own dossiers from these.
    let metadata = Metadata {
        actor: events::Actor { organisation: "bench".into(), principal: "france_travail bench".into() },
        ..Metadata::default()
    };
    let mut entered: Vec<(String, String, String, Value)> = Vec::new(); // (dossier, person, région, item)
    let mut latencies = Vec::new();
    for (i, (_, item)) in demo.dossiers.iter().enumerate() {
        if latencies.len() == changes {
            break;
        }
        let mut item = item.clone();
        // No contract, no exclusion: enrolled, looking for an employer.
        item.as_object_mut().expect("an object").retain(|field, _| {
            !field.starts_with("contrat_")
                && !field.contains("exclusion")
                && !field.contains("rupture")
                && !field.starts_with("siret_employeur")
        });
        item["statut_apprenant"] = json!(2);
        item["id_erp_apprenant"] = json!(format!("FT-BENCH-{run}-{i}"));
        item["date_de_naissance_apprenant"] = json!(today.with_year(today.year() - 20).expect("a day"));
        item["date_inscription_formation"] = json!(today - chrono::Duration::days(10));
        item["date_entree_formation"] = json!(today - chrono::Duration::days(10));
        item["date_fin_formation"] = json!(today + chrono::Duration::days(600));
        let rentree = if today.month() >= 8 { today.year() } else { today.year() - 1 };
        item["annee_scolaire"] = json!(format!("{rentree}-{}", rentree + 1));
        let (Some(region), Some((stream, events))) = (
            territoire_de(
                item["code_commune_insee_apprenant"].as_str(),
                item["code_postal_apprenant"].as_str(),
            )
            .map(|t| t.1),
            support::demo_events(&item, today),
        ) else {
            continue;
        };
        let personne = events[0].data["personne"]["identite"].as_str().unwrap_or_default().to_owned();
        let events: Vec<events::NewEvent> =
            events.into_iter().map(|e| e.with_metadata(metadata.clone())).collect();
        store.append(stream.clone(), ExpectedVersion::NoStream, events).await?;
        let committed = Instant::now();
        let key = ft_key(&pool, &mut ft_keys, &region).await?;
        wait(&client, &address, &key, &personne, committed, |e| e["visible"] == json!(true)).await?;
        latencies.push(committed.elapsed().as_secs_f64() * 1000.0);
        entered.push((stream, personne, region, item));
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "  enrolment → FT's franceTravailEntree(id) ({} dossiers): {}",
        latencies.len(),
        support::percentiles(&latencies)
    );

    // The same persons sign a contract today.
    let mut latencies = Vec::new();
    for (stream, personne, region, mut item) in entered {
        item["statut_apprenant"] = json!(3);
        item["contrat_date_debut"] = json!(today);
        item["contrat_date_fin"] = json!(today + chrono::Duration::days(700));
        item["siret_employeur"] = json!("55210055400013");
        let snapshot = v3::parse(&item).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let recorded = store.read_stream(&stream, 1, i64::MAX).await?;
        let dossier = Dossier::from_recorded(recorded.iter())?;
        let events: Vec<events::NewEvent> = diff::decide(&dossier, &snapshot, "bench")
            .iter()
            .map(|e| e.to_new_event(e.occurred_on(today), metadata.clone()))
            .collect();
        let version = recorded.last().map_or(0, |e| e.version);
        store.append(stream, ExpectedVersion::Exact(version), events).await?;
        let committed = Instant::now();
        let key = ft_key(&pool, &mut ft_keys, &region).await?;
        wait(&client, &address, &key, &personne, committed, |e| e.is_null() || e["visible"] == json!(false))
            .await?;
        latencies.push(committed.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "  contract → gone from FT's queue ({} dossiers): {}",
        latencies.len(),
        support::percentiles(&latencies)
    );

    // The baseline, side by side: the rupture queue's own measure.
    let mut keys = MlKeys { pool: pool.clone(), keys: HashMap::new() };
    let latencies = rupture_latencies(&store, &pool, &address, &mut keys, today, changes).await?;
    println!(
        "  baseline: rupture append → ML's rupture(id) ({} ruptures): {}",
        latencies.len(),
        support::percentiles(&latencies)
    );
    server.stop();
    Ok(())
}

/// A FRANCE_TRAVAIL key of the région, created when first needed.
async fn ft_key(
    pool: &sqlx::PgPool,
    keys: &mut HashMap<String, String>,
    region: &str,
) -> anyhow::Result<String> {
    if let Some(key) = keys.get(region) {
        return Ok(key.clone());
    }
    let spec = KeySpec {
        role: Role::FranceTravail,
        organisme: None,
        scope: Some(format!("REGION:{region}").parse().map_err(anyhow::Error::msg)?),
        label: Some("france_travail bench".into()),
    };
    let key = keys::create(pool, &spec).await?.1;
    keys.insert(region.to_owned(), key.clone());
    Ok(key)
}

/// Ask `franceTravailEntree(id)` every 5 ms until `done` holds of the answer.
async fn wait(
    client: &reqwest::Client,
    address: &str,
    key: &str,
    personne: &str,
    committed: Instant,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<()> {
    let query = json!({ "query": format!("{{ franceTravailEntree(id: \"{personne}\") {{ visible }} }}") });
    loop {
        let answer: Value = client
            .post(format!("http://{address}/graphql"))
            .bearer_auth(key)
            .json(&query)
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(answer.get("errors").is_none(), "{answer}");
        if done(&answer["data"]["franceTravailEntree"]) {
            return Ok(());
        }
        anyhow::ensure!(committed.elapsed() < Duration::from_secs(30), "{personne} never changed: {answer}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
