//! Test support: a fresh, migrated database per test, on the server named by `DATABASE_URL` or, when it
//! is unset, on a private cluster under the target directory. Databases are cloned from a migrated
//! template (one per migration set), so a test starts in milliseconds.

pub mod browser;
pub mod changes;
pub mod gql;
pub mod smtp;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use tba::config::DbConfig;
use tba::db::quote_ident;

pub struct TestDb {
    pub name: String,
    pub options: PgConnectOptions,
    pub pool: PgPool,
    admin: PgConnectOptions,
    server: Server,
}

/// Where the test databases live.
#[derive(Clone)]
enum Server {
    Url(String),
    Cluster(tba::db::cluster::Cluster),
}

impl TestDb {
    pub async fn new() -> TestDb {
        let (server, admin) = server().await;
        let template = template(&admin).await;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "tba_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap_or_default()
        );
        let mut conn = admin.connect().await.expect("connect to the test server");
        let sql = format!("CREATE DATABASE {} TEMPLATE {}", quote_ident(&name), quote_ident(&template));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("create the test database");
        conn.close().await.ok();
        let options = admin.clone().database(&name);
        let pool =
            PgPoolOptions::new().max_connections(20).connect_with(options.clone()).await.expect("connect");
        TestDb { name, options, pool, admin, server }
    }

    /// A URL of this database, for the `tba` binary's `DATABASE_URL`.
    pub fn url(&self) -> String {
        match &self.server {
            Server::Cluster(cluster) => cluster.url(&self.name),
            Server::Url(url) => {
                // postgres://user@host:port/database?params: swap the database.
                let (base, params) = url.split_once('?').map_or((url.as_str(), None), |(b, p)| (b, Some(p)));
                let scheme_end = base.find("://").map_or(0, |i| i + 3);
                let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
                let mut url = format!("{}/{}", &base[..host_end], self.name);
                if let Some(params) = params {
                    url = format!("{url}?{params}");
                }
                url
            }
        }
    }

    /// Run the `tba` binary on this database.
    pub fn tba(&self, args: &[&str]) -> std::process::Output {
        self.tba_with(args, &[])
    }

    /// Run the `tba` binary on this database, with these environment variables too.
    pub fn tba_with(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_tba"))
            .args(args)
            .env("DATABASE_URL", self.url())
            .env("TBA_MASTER_KEY", MASTER_KEY)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .output()
            .expect("run tba")
    }

    /// A superuser connection that bypasses the immutability triggers, to tamper with the log.
    pub async fn tamper(&self, sql: &str) {
        let mut conn = self.options.connect().await.expect("connect");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SET session_replication_role = replica; {sql}; SET session_replication_role = origin;"
        )))
        .execute(&mut conn)
        .await
        .expect("tamper");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop is synchronous: clean up on a thread of its own, and wait for it. The pool is not closed
        // first: its connections may belong to tasks of the test's runtime, which waits on us; FORCE
        // ends them.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async move {
                let mut conn = admin.connect().await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&name));
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}

/// The test server, and its maintenance database.
async fn server() -> (Server, PgConnectOptions) {
    let (server, admin) = match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => {
            let admin = PgConnectOptions::from_str(&url).expect("DATABASE_URL is a PostgreSQL URL");
            (Server::Url(url), admin.database("postgres"))
        }
        None => {
            let home = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tba-test");
            let config = DbConfig { url: None, home, keys: Default::default() };
            let cluster = tba::db::start_cluster(&config).await.expect("start the private test cluster");
            let admin = cluster.connect_options("postgres");
            (Server::Cluster(cluster), admin)
        }
    };
    (server, admin.log_statements(tracing::log::LevelFilter::Trace))
}

/// The migrated template for the current migrations, created once per server under an advisory lock.
async fn template(admin: &PgConnectOptions) -> String {
    let mut digest = Sha256::new();
    for migration in events::MIGRATOR.iter() {
        digest.update(migration.version.to_be_bytes());
        digest.update(&*migration.checksum);
    }
    let name = format!("tba_template_{}", &hex::encode(digest.finalize())[..16]);
    let mut conn = admin.connect().await.expect("connect to the test server");
    sqlx::query("SELECT pg_advisory_lock(7280421)").execute(&mut conn).await.expect("lock");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .expect("look up the template");
    if !exists {
        let building = format!("{name}_building");
        for sql in [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&building)),
            format!("CREATE DATABASE {}", quote_ident(&building)),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("create the template");
        }
        let mut migrating =
            admin.clone().database(&building).connect().await.expect("connect to the template");
        events::MIGRATOR.run(&mut migrating).await.expect("migrate the template");
        migrating.close().await.expect("close");
        let sql = format!("ALTER DATABASE {} RENAME TO {}", quote_ident(&building), quote_ident(&name));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("publish the template");
    }
    sqlx::query("SELECT pg_advisory_unlock(7280421)").execute(&mut conn).await.expect("unlock");
    conn.close().await.ok();
    name
}

/// The master key of the tests' service and of the `tba` commands they run.
pub const MASTER_KEY: &str = "3f1c9a7e5b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e";

/// A store that seals personal data as the service does.
pub fn store_config() -> events::StoreConfig {
    let key = events::personal::MasterKey::parse_hex(MASTER_KEY).expect("a valid key");
    events::StoreConfig { vault: Some(events::personal::Vault::new(key, Vec::new())), ..Default::default() }
}

/// The service on a random port, over a test database; it stops when dropped.
pub struct TestApp {
    pub address: String,
    pub store: events::EventStore,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> TestApp {
        TestApp::spawn_with(db, tba::http::HttpLimits::default()).await
    }

    pub async fn spawn_with(db: &TestDb, limits: tba::http::HttpLimits) -> TestApp {
        TestApp::spawn_on(db.pool.clone(), limits).await
    }

    /// The service on a pool of the test's own (its size, its timeouts).
    pub async fn spawn_on(pool: sqlx::PgPool, limits: tba::http::HttpLimits) -> TestApp {
        TestApp::spawn_configured(pool, limits, None).await
    }

    /// The service e-mailing through the SMTP server at `url`.
    pub async fn spawn_with_smtp(db: &TestDb, url: &str) -> TestApp {
        let smtp = tba::notifier::Smtp::new(url, "tba@example.org").expect("an SMTP server");
        TestApp::spawn_configured(db.pool.clone(), tba::http::HttpLimits::default(), Some(smtp)).await
    }

    async fn spawn_configured(
        pool: sqlx::PgPool,
        limits: tba::http::HttpLimits,
        smtp: Option<tba::notifier::Smtp>,
    ) -> TestApp {
        let store = events::EventStore::start(pool.clone(), store_config()).await.expect("start the store");
        let state = tba::app::AppState::new(pool, store.clone(), limits.gate()).with_smtp(smtp);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("local address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            tba::http::serve(listener, state, &limits, shutdown).await.expect("serve");
        });
        TestApp { address, store, _stop: stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POST a JSON body with a key; the status and the JSON answer.
    pub async fn post(&self, path: &str, key: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let request = reqwest::Client::new().post(self.url(path)).bearer_auth(key).json(body);
        answer(request).await
    }

    /// The status of `logHead` asked with `key` (401 for a key refused).
    pub async fn log_head_status(&self, key: &str) -> u16 {
        self.post("/graphql", key, &serde_json::json!({ "query": "{ logHead { position } }" })).await.0
    }

    /// Ask `logHead` with `key` until it is refused, for at most two seconds: whether it was (a key
    /// revoked by another process is refused once the change is notified to this one).
    pub async fn refused_soon(&self, key: &str) -> bool {
        for _ in 0..40 {
            if self.log_head_status(key).await == 401 {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }

    /// GET with a key; the status and the JSON answer.
    pub async fn get(&self, path: &str, key: &str) -> (u16, serde_json::Value) {
        answer(reqwest::Client::new().get(self.url(path)).bearer_auth(key)).await
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let response = request.send().await.expect("the service answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// Organismes of the test referential: (UAI, SIRET).
pub const CFA_LYON: (&str, &str) = ("0693456K", "12345678901234");
pub const CMA_LYON: (&str, &str) = ("0693455J", "12345678900012");
pub const CFA_PARIS: (&str, &str) = ("0751234A", "98765432100017");

/// A service over a database holding the test referential, and a key of the Lyon CFA.
pub async fn lyon_app() -> (TestDb, TestApp, String) {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let key = db.organisme_key(CFA_LYON).await;
    let app = TestApp::spawn(&db).await;
    (db, app, key)
}

impl TestDb {
    /// Whether the projections (`dossiers`, `ruptures`, `voeux` and `france_travail`) have applied the whole log, waiting up to
    /// `within`.
    pub async fn projection_caught_up(&self, within: std::time::Duration) -> bool {
        caught_up_on(&self.pool, within).await
    }
}

/// Whether the projections of the database behind `pool` have applied the whole log, waiting up to
/// `within`.
pub async fn caught_up_on(pool: &PgPool, within: std::time::Duration) -> bool {
    use projections::runtime::{Projector, checkpoint_name};
    let checkpoints = [
        checkpoint_name("dossiers", projections::dossiers::DossiersProjection::default().version()),
        checkpoint_name("ruptures", projections::ruptures::RupturesProjection::default().version()),
        checkpoint_name("voeux", projections::voeux::VoeuxProjection::default().version()),
        checkpoint_name(
            "france_travail",
            projections::france_travail::FranceTravailProjection::default().version(),
        ),
    ];
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        let lag: i64 = sqlx::query_scalar(
            "SELECT max(h.position - coalesce((SELECT position FROM checkpoints WHERE name = n), 0))
             FROM log_head h, unnest($1::text[]) AS n",
        )
        .bind(&checkpoints[..])
        .fetch_one(pool)
        .await
        .expect("read the lag");
        if lag == 0 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

impl TestDb {
    /// Wait until `condition` (a query of one boolean) holds; panic naming it past `within`.
    pub async fn wait_for(&self, within: std::time::Duration, condition: &str) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let holds: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(condition))
                .fetch_one(&self.pool)
                .await
                .expect("run the condition");
            if holds {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{condition}: still false after {within:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl TestDb {
    /// Rebuild the `dossiers` projection through the CLI, and check it gives the live checksum.
    pub fn assert_rebuild_gives_the_live_checksum(&self) {
        self.assert_rebuild_of("dossiers");
    }

    /// Rebuild a projection through the CLI, and check it gives the live checksum.
    pub fn assert_rebuild_of(&self, projection: &str) {
        let live = self.tba(&["projections", "checksum", projection]);
        let live = String::from_utf8_lossy(&live.stdout).trim().to_owned();
        assert_eq!(live.len(), 64, "{live}");
        let rebuilt = self.tba(&["projections", "rebuild", projection]);
        assert!(rebuilt.status.success(), "{rebuilt:?}");
        let stdout = String::from_utf8_lossy(&rebuilt.stdout);
        assert!(
            stdout.contains(&format!("checksum {live}")),
            "the rebuild gives the live checksum: {stdout} vs {live}"
        );
    }

    /// The id of the dossier of that `id_erp_apprenant`, as the `dossiers` read model holds it.
    pub async fn dossier_id(&self, id_erp: &str) -> String {
        sqlx::query_scalar("SELECT dossier_id FROM rm_dossiers WHERE id_erp_apprenant = $1")
            .bind(id_erp)
            .fetch_one(&self.pool)
            .await
            .expect("a projected dossier")
    }

    /// The position of the head of the log.
    pub async fn head(&self) -> i64 {
        sqlx::query_scalar("SELECT position FROM log_head")
            .fetch_one(&self.pool)
            .await
            .expect("read the head")
    }

    /// Load the test referential.
    pub async fn with_organismes(&self) {
        let csv = format!(
            "uai,siret,nom,code_commune_insee,code_postal,departement,nature\n\
             {},{},CFA des Métiers,69383,69003,69,formateur\n\
             {},{},Chambre de Métiers,,,69,responsable\n\
             {},{},CFA de Paris,75056,75001,75,responsable_formateur\n",
            CFA_LYON.0, CFA_LYON.1, CMA_LYON.0, CMA_LYON.1, CFA_PARIS.0, CFA_PARIS.1
        );
        let organismes = tba::ingestion::organismes::parse_csv(csv.as_bytes()).expect("a valid referential");
        tba::ingestion::organismes::import(&self.pool, organismes, events::Metadata::default())
            .await
            .expect("import the referential");
    }

    /// A live API key of an organisme: its secret.
    pub async fn organisme_key(&self, (uai, siret): (&str, &str)) -> String {
        let spec = tba::auth::keys::KeySpec {
            role: tba::auth::keys::Role::OrganismeFormation,
            organisme: Some(format!("{uai}:{siret}").parse().expect("an organisme")),
            scope: None,
            label: None,
        };
        tba::auth::keys::create(&self.pool, &spec).await.expect("create a key").1
    }
}

/// The dossier moved to the année scolaire of today, started two months ago, under contract since.
/// A command's standard output, as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl TestDb {
    /// Append `count` small events spread over three dossier streams, straight to the store.
    pub async fn append_plain(&self, count: i64) {
        let store = events::EventStore::start(self.pool.clone(), events::StoreConfig::default())
            .await
            .expect("start the store");
        for n in 0..count {
            let event = events::NewEvent::new(
                "ContratSigne",
                serde_json::json!({ "n": n, "siret": "12345678901234" }),
            );
            store
                .append(format!("dossier-{}", n % 3), events::ExpectedVersion::Any, vec![event])
                .await
                .expect("append");
        }
    }
}

pub fn this_year(mut item: serde_json::Value) -> serde_json::Value {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let start = if today.month() >= 8 { today.year() } else { today.year() - 1 };
    let day = |days: i64| serde_json::json!(today + chrono::Duration::days(days));
    item["annee_scolaire"] = serde_json::json!(format!("{start}-{}", start + 1));
    item["date_inscription_formation"] = day(-60);
    item["date_entree_formation"] = day(-60);
    item["date_fin_formation"] = day(600);
    item["contrat_date_debut"] = day(-50);
    item["contrat_date_fin"] = day(600);
    item
}

/// A valid v3 dossier of the Lyon CFA (formateur) and its chambre (responsable), with one contract.
pub fn dossier_v3(id_erp: &str) -> serde_json::Value {
    serde_json::json!({
        "nom_apprenant": "Martin",
        "prenom_apprenant": "Léa",
        "date_de_naissance_apprenant": "2007-03-14",
        "annee_scolaire": "2025-2026",
        "id_erp_apprenant": id_erp,
        "statut_apprenant": 3,
        "email_contact": "lea.martin@example.org",
        "tel_apprenant": "06 12 34 56 78",
        "code_postal_apprenant": "69003",
        "code_commune_insee_apprenant": "69383",
        "formation_cfd": "50022137",
        "formation_rncp": "RNCP37870",
        "date_inscription_formation": "2025-09-01",
        "date_entree_formation": "2025-09-01",
        "date_fin_formation": "2027-06-30",
        "contrat_date_debut": "2025-09-15",
        "contrat_date_fin": "2027-06-30",
        "siret_employeur": "55210055400013",
        "etablissement_responsable_uai": CMA_LYON.0,
        "etablissement_responsable_siret": CMA_LYON.1,
        "etablissement_formateur_uai": CFA_LYON.0,
        "etablissement_formateur_siret": CFA_LYON.1,
    })
}

/// The data of an `InscriptionEnregistree` of the Lyon CFA (formateur) and its chambre (responsable),
/// for année scolaire 2025-2026, as `POST /api/v1/events` and `appendEvents` take it.
pub fn inscription_data(id_erp: &str) -> serde_json::Value {
    serde_json::json!({
        "formateur": { "uai": CFA_LYON.0, "siret": CFA_LYON.1 },
        "responsable": { "uai": CMA_LYON.0, "siret": CMA_LYON.1 },
        "annee_scolaire": "2025-2026",
        "id_erp_apprenant": id_erp,
        "formation": { "cfd": "50022137", "rncp": null, "libelle_court": "CAP CUISINE", "annee_formation": 1,
                       "duree_theorique_mois": 24, "presentielle": true },
        "session": { "date_inscription": "2025-08-28", "date_entree": "2025-09-01", "date_fin": "2027-06-30" },
        "apprenant": { "sexe": "F", "rqth": false, "date_rqth": null, "has_nir": false },
        "personnel": { "nom": "MARTIN", "prenom": "Léa", "date_de_naissance": "2007-03-14", "ine": null,
                       "coordonnees": { "email": "lea@example.org" } }
    })
}

/// `tba` on the private cluster of `home`.
pub fn tba_at(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tba"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("TBA_HOME", home)
        .env("TBA_MASTER_KEY", MASTER_KEY)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// Stops the private cluster of `home` when the test ends, whatever happened.
pub struct StopCluster(pub std::path::PathBuf);

impl Drop for StopCluster {
    fn drop(&mut self) {
        tba_at(&self.0, &["db", "stop"]);
    }
}
