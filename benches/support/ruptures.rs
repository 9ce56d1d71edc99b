//! The Missions Locales' side of the benchmarks: a key per Mission Locale, young apprentices to break
//! the contract of, and the time from a rupture's commit to the Mission Locale's answer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use events::domain::communes;
use events::dossier::event::Rupture;
use events::dossier::{Dossier, DossierEvent};
use events::{EventStore, ExpectedVersion, Metadata};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::PgPool;
use tba::auth::keys::{self, KeySpec, Role};

/// One MISSION_LOCALE key per Mission Locale, created when first needed.
pub struct MlKeys {
    pub pool: PgPool,
    pub keys: HashMap<String, String>,
}

impl MlKeys {
    pub async fn of(&mut self, ml: &str) -> anyhow::Result<String> {
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

/// The large log of `dossiers`, its personal data sealed as a service writes it (`sealed_large_log`),
/// with the demo's Missions Locales, its `dossiers` and `ruptures` read models up to its head (caught up from their checkpoints when they have one): its pool, the store on
/// it, and how long building `ruptures` took when it was built from nothing.
pub async fn queue_log(
    dossiers: usize,
    today: NaiveDate,
) -> anyhow::Result<(PgPool, EventStore, Option<std::time::Duration>)> {
    use projections::dossiers::DossiersProjection;
    use projections::ruptures::RupturesProjection;
    let pool = super::sealed_large_log(dossiers, true, today).await?;
    missions_locales(&pool).await?;
    let vault = Some(super::vault());
    let store =
        EventStore::start(pool.clone(), events::StoreConfig { vault: vault.clone(), ..Default::default() })
            .await?;
    super::caught_up(&store, DossiersProjection::default().with_vault(vault.clone())).await?;
    let build = super::caught_up(&store, RupturesProjection::default().with_vault(vault)).await?;
    Ok((pool, store, build))
}

/// The demo's Missions Locales (one per département), imported if the log has none.
pub async fn missions_locales(pool: &PgPool) -> anyhow::Result<()> {
    let known: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE category = 'mission_locale'")
        .fetch_one(pool)
        .await?;
    if known == 0 {
        let missions = tba::ingestion::missions_locales::parse_csv(
            tba::demo::generate::missions_locales_csv().as_bytes(),
        )
        .map_err(|errors| anyhow::anyhow!("demo Missions Locales refused: {}", errors[0]))?;
        tba::ingestion::missions_locales::import(pool, missions, Metadata::default()).await?;
    }
    Ok(())
}

/// Dossiers of 17-to-24-year-olds under contract today, without an entry yet, whose residence a
/// Mission Locale serves: (dossier, person, Mission Locale), from a random sample of the dossiers.
pub async fn apprentices(
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
pub async fn append_rupture(
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

/// `n` times, one after the other: a rupture appended for a random young apprentice, then the Mission
/// Locale of their residence asks `rupture(id)` with its own key every 5 ms until the entry answers with
/// that rupture; the times from the append's commit to that answer (ms), sorted.
pub async fn rupture_latencies(
    store: &EventStore,
    pool: &PgPool,
    address: &str,
    keys: &mut MlKeys,
    today: NaiveDate,
    ruptures: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut rng = StdRng::seed_from_u64(11);
    let candidates = apprentices(pool, today, ruptures * 3).await?;
    let client = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(ruptures);
    for (dossier_id, personne, ml) in candidates {
        if latencies.len() == ruptures {
            break;
        }
        let Some(date) = append_rupture(store, &dossier_id, today).await? else { continue };
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
    Ok(latencies)
}
