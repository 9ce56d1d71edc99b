//! Push a data set through channel 1, as ERPs would: the referential is imported, each formateur
//! organisme gets an API key, and its dossiers go to `POST /api/v3/dossiers-apprenants` in requests of
//! at most 2000, several in flight. A refused request (rate limit, service busy) is retried.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use events::{Actor, Metadata};
use serde_json::Value;
use sqlx::PgPool;

use crate::auth::keys::{self, KeySpec, Role};
use crate::http::dossiers::MAX_ITEMS;
use crate::ingestion::journal::Totals;
use crate::ingestion::organismes;
use crate::progress::Progress;

/// One request: the key of the organisme and the serialised array of its dossiers.
pub struct Batch {
    pub key: String,
    pub items: usize,
    pub body: Vec<u8>,
}

/// Import Missions Locales (the format of `tba missions-locales import`), as the demo's operator.
pub async fn missions_locales(pool: &PgPool, csv: &str) -> anyhow::Result<()> {
    let missions = crate::ingestion::missions_locales::parse_csv(csv.as_bytes())
        .map_err(|errors| anyhow::anyhow!("the Missions Locales are refused: {}", errors[0]))?;
    crate::ingestion::missions_locales::import(pool, missions, demo_metadata()).await?;
    Ok(())
}

/// Import the formations referential (the format of `tba formations import`), as the demo's operator.
pub async fn formations(pool: &PgPool, csv: &str) -> anyhow::Result<()> {
    let formations = crate::ingestion::formations::parse_csv(csv.as_bytes())
        .map_err(|errors| anyhow::anyhow!("the formations are refused: {}", errors[0]))?;
    crate::ingestion::formations::import(pool, formations, demo_metadata()).await?;
    Ok(())
}

/// Import a DECA extract (the format of `tba deca import`), as the demo's operator.
pub async fn deca(pool: &PgPool, vault: &events::personal::Vault, csv: &str) -> anyhow::Result<()> {
    let contracts = crate::ingestion::deca::parse_csv(csv.as_bytes())
        .map_err(|errors| anyhow::anyhow!("the DECA extract is refused: {}", errors[0]))?;
    crate::ingestion::deca::import(pool, Some(vault), contracts, demo_metadata()).await?;
    Ok(())
}

/// Import the vœux files of a data set directory (those it has).
pub async fn voeux(
    pool: &PgPool,
    vault: &events::personal::Vault,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    for source in events::voeu::Source::ALL {
        let path = dir.join(super::voeux::file_name(source));
        if !path.exists() {
            continue;
        }
        let name = path.display().to_string();
        let report = crate::ingestion::voeux::import(
            pool,
            Some(vault),
            source,
            &path,
            &name,
            demo_metadata(),
            |_, _| {},
        )
        .await
        .map_err(|e| match e {
            crate::ingestion::voeux::VoeuxImportError::Invalid(errors, _) => {
                anyhow::anyhow!("the demo vœux are refused: {}", errors[0])
            }
            e => e.into(),
        })?;
        println!("{source} vœux imported: {} rows, {} formulated", report.lignes, report.formules);
    }
    Ok(())
}

fn demo_metadata() -> Metadata {
    Metadata {
        actor: Actor { organisation: "demo".into(), principal: "tba demo load".into() },
        channel: events::Channel::Cli.into(),
        ..Metadata::default()
    }
}

/// Import the referential and create a key per formateur organisme; returns the requests to send,
/// dossiers grouped by formateur in requests of at most 2000.
pub async fn prepare(pool: &PgPool, organismes_csv: &str, dossiers: &[Value]) -> anyhow::Result<Vec<Batch>> {
    let referential = organismes::parse_csv(organismes_csv.as_bytes())
        .map_err(|errors| anyhow::anyhow!("the organismes referential is refused: {}", errors[0]))?;
    organismes::import(pool, referential, demo_metadata()).await?;
    let mut by_formateur: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for item in dossiers {
        let field = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default();
        let formateur =
            format!("{}:{}", field("etablissement_formateur_uai"), field("etablissement_formateur_siret"));
        by_formateur.entry(formateur).or_default().push(item);
    }
    let mut batches = Vec::new();
    for (formateur, items) in by_formateur {
        let spec = KeySpec {
            role: Role::OrganismeFormation,
            organisme: Some(formateur.parse().map_err(|e| anyhow::anyhow!("organisme {formateur}: {e}"))?),
            scope: None,
            label: Some("tba demo load".into()),
        };
        let (_, key) = keys::create(pool, &spec).await?;
        for chunk in items.chunks(MAX_ITEMS) {
            let body = serde_json::to_vec(chunk).expect("JSON values serialise");
            batches.push(Batch { key: key.clone(), items: chunk.len(), body });
        }
    }
    Ok(batches)
}

/// What a push of every batch gave.
#[derive(Debug, Clone, Default)]
pub struct PushReport {
    pub totals: Totals,
    pub elapsed: Duration,
}

/// Send every batch to `base_url`, `concurrency` requests in flight.
pub async fn push_all(
    base_url: &str,
    batches: &[Batch],
    concurrency: usize,
    progress: &Progress,
) -> anyhow::Result<PushReport> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;
    let url = format!("{}/api/v3/dossiers-apprenants", base_url.trim_end_matches('/'));
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut next = 0;
    let mut in_flight = tokio::task::JoinSet::new();
    while next < batches.len() || !in_flight.is_empty() {
        while next < batches.len() && in_flight.len() < concurrency.max(1) {
            let (client, url, batch) = (client.clone(), url.clone(), &batches[next]);
            let (key, body) = (batch.key.clone(), batch.body.clone());
            in_flight.spawn(async move { send(&client, &url, &key, body).await });
            next += 1;
        }
        let answer = in_flight.join_next().await.expect("a request is in flight")??;
        for (total, field) in [
            (&mut totals.received, "received"),
            (&mut totals.accepted, "accepted"),
            (&mut totals.rejected, "rejected"),
            (&mut totals.events, "events"),
        ] {
            *total += answer[field].as_i64().unwrap_or(0);
        }
        progress.inc(answer["received"].as_u64().unwrap_or(0));
    }
    Ok(PushReport { totals, elapsed: started.elapsed() })
}

/// One request, retried while the service asks to come back later.
async fn send(client: &reqwest::Client, url: &str, key: &str, body: Vec<u8>) -> anyhow::Result<Value> {
    for _ in 0..20 {
        let response = client
            .post(url)
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::SERVICE_UNAVAILABLE
        {
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        let answer: Value = response.json().await.with_context(|| format!("{url} answered {status}"))?;
        if !status.is_success() {
            bail!("{url} answered {status}: {answer}");
        }
        return Ok(answer);
    }
    bail!("{url} kept refusing the request (rate limit or unavailable)")
}
