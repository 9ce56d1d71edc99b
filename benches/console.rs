//! The console under load, side by side with the GraphQL queries that answer the same questions:
//! `cargo bench --bench console` (private cluster, or the server of `DATABASE_URL`; needs `wrk`:
//! `apt-get install wrk`).
//!
//! It takes the large log of the read-side benchmarks, its personal data sealed as a service writes it
//! (BENCH_DOSSIERS, default 1,000,000 dossiers of
//! `tba demo`'s generator), adds the demo's Missions Locales if the log has none, brings the `dossiers`
//! and `ruptures` read models up to the head, and opens console sessions (accounts made and signed in
//! through the application's own functions): one national analyst, and an advisor of each of
//! BENCH_MISSIONS (default 100) Missions Locales — the half with the largest queues, the rest at random
//! — each with a MISSION_LOCALE key of the same scope for GraphQL. Against the release `tba serve`, with
//! BENCH_USERS (default 20) connections for BENCH_SECONDS (default 20) per phase, BENCH_ROUNDS
//! (default 2) times:
//! 1. **dashboard**: `GET /console/indicateurs?date=…` (the five counts, the map by département, the
//!    table by organisme, the count at the end of each month of the school year), at 500 random dates
//!    of the last three school years, against one GraphQL request asking the same figures
//!    (`indicateurs` national, by `DEPARTEMENT`, by `ORGANISME`, and national at each month's end);
//! 2. **dashboard, seldom asked**: the same for one département at a random date, BENCH_COLD
//!    (default 5,000) different questions on each side (two sets, so that neither answers from what
//!    the other counted): what a page costs when its figures are not in memory yet (the answers kept
//!    per question until the read model moves, which GraphQL and the console share; at most 10,000,
//!    so these phases empty it: each round asks phase 1's questions of both sides once before
//!    measuring it);
//! 3. **queue**: `GET /console/ruptures` (the counts per list and month, the first 100 entries to deal
//!    with, names and contacts) of a random Mission Locale, against `rupturesComptes` and
//!    `ruptures(first: 100, liste: A_TRAITER)` with the same fields, with that Mission Locale's key.
//!
//! Every console request carries `Accept-Encoding: gzip` like a browser (its pages are compressed,
//! GraphQL's answers are not). Each prepared request is sent once before and after the load and must
//! answer 200 with its content. It prints wrk's figures per phase and the ratio of the p99s.

mod support;

use std::process::Command;

use chrono::{Datelike, Months, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::env_usize;
use support::http::{Charge, Requete, Server, charge};
use support::ruptures::MlKeys;
use tba::auth::comptes;
use tba::auth::keys::{KeySpec, Role};

const QUESTIONS: usize = 500;
const PASSWORD: &str = "mot de passe du banc d'essai";

/// A console session's cookie for a new account of this role and scope.
async fn session(pool: &sqlx::PgPool, run: &str, name: &str, spec: &KeySpec) -> anyhow::Result<String> {
    let email = format!("{name}.{run}@banc.invalid");
    let (_, invitation) = comptes::create(pool, &email, spec).await?;
    comptes::definir_mot_de_passe(pool, &invitation, PASSWORD).await?;
    Ok(format!("tba_session={}", comptes::connecter(pool, &email, PASSWORD).await?.token))
}

/// The last day of each month of `date`'s school year up to `date`, as the dashboard's chart has them.
fn fins_de_mois(date: NaiveDate) -> Vec<NaiveDate> {
    let year = if date.month() >= 8 { date.year() } else { date.year() - 1 };
    let mut mois = NaiveDate::from_ymd_opt(year, 8, 1).expect("1 August");
    let mut fins = Vec::new();
    while mois <= date {
        let suivant = mois.checked_add_months(Months::new(1)).expect("a later month");
        fins.push(suivant.pred_opt().expect("a day").min(date));
        mois = suivant;
    }
    fins
}

/// Each request answers 200, its body holding `marker` (a GraphQL answer: no `"errors"`).
async fn check(address: &str, requests: &[Requete], marker: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    for r in requests {
        let mut request = client.request(r.method.parse()?, format!("http://{address}{}", r.path));
        for (name, value) in &r.headers {
            if *name != "Accept-Encoding" {
                request = request.header(*name, value);
            }
        }
        if let Some(body) = &r.body {
            request = request.body(body.clone());
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(
            status == 200 && text.contains(marker) && !text.contains("\"errors\""),
            "{} {}: {status} {}",
            r.method,
            r.path,
            &text[..text.len().min(400)]
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dossiers = env_usize("BENCH_DOSSIERS", 1_000_000);
    let missions = env_usize("BENCH_MISSIONS", 100);
    let users = env_usize("BENCH_USERS", 20);
    let seconds = env_usize("BENCH_SECONDS", 20);
    let rounds = env_usize("BENCH_ROUNDS", 2);
    let cold = env_usize("BENCH_COLD", 5000);
    anyhow::ensure!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is needed: apt-get install wrk"
    );
    let today = Utc::now().date_naive();
    let (pool, store, _) = support::ruptures::queue_log(dossiers, today).await?;
    let head = store.head().await?.position;
    let run = format!("{}", Utc::now().timestamp());
    let mut rng = StdRng::seed_from_u64(17);

    // The analyst: the dashboard at random dates, and the same figures asked of GraphQL.
    let analyste = KeySpec { role: Role::Analyst, organisme: None, scope: None, label: None };
    let cookie = session(&pool, &run, "analyste", &analyste).await?;
    let key =
        tba::auth::keys::create(&pool, &KeySpec { label: Some("console bench".into()), ..analyste }).await?.1;
    let (first, days) = support::last_three_school_years(today);
    let departements: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT departement FROM rm_dossiers ORDER BY 1")
            .fetch_all(&pool)
            .await?;
    let counts = "apprentis inscrits rupturants abandons apprenants";
    // The dashboard at `date` (of one département, if any), and the GraphQL request of its figures.
    let tableau = |date: NaiveDate, departement: Option<&str>| {
        let filtre =
            departement.map(|d| format!(", filtre: {{ departements: [\"{d}\"] }}")).unwrap_or_default();
        let mois: Vec<String> = fins_de_mois(date)
            .iter()
            .enumerate()
            .map(|(i, fin)| format!("m{i}: indicateurs(date: \"{fin}\"{filtre}) {{ {counts} }}"))
            .collect();
        let query = format!(
            "{{ national: indicateurs(date: \"{date}\"{filtre}) {{ {counts} }} \
             carte: indicateurs(date: \"{date}\", groupBy: DEPARTEMENT{filtre}) {{ cle libelle {counts} }} \
             table: indicateurs(date: \"{date}\", groupBy: ORGANISME{filtre}) {{ cle libelle {counts} }} {} }}",
            mois.join(" ")
        );
        let page = Requete {
            method: "GET",
            path: format!(
                "/console/indicateurs?date={date}{}",
                departement.map(|d| format!("&departement={d}")).unwrap_or_default()
            ),
            headers: vec![("Cookie", cookie.clone()), ("Accept-Encoding", "gzip".into())],
            body: None,
        };
        (page, Requete::graphql(&key, &query))
    };
    let date = |rng: &mut StdRng| first + chrono::Duration::days(rng.random_range(0..=days));
    let (tableau_page, tableau_graphql): (Vec<Requete>, Vec<Requete>) =
        (0..QUESTIONS).map(|_| tableau(date(&mut rng), None)).unzip();
    // Questions seldom asked twice (a département and a date each; a set for each side, so that
    // neither answers from what the other counted): what a dashboard costs when nothing is in memory.
    let (mut froid_page, mut froid_graphql) = (Vec::new(), Vec::new());
    for _ in 0..cold {
        let departement = &departements[rng.random_range(0..departements.len())];
        froid_page.push(tableau(date(&mut rng), Some(departement)).0);
        let departement = &departements[rng.random_range(0..departements.len())];
        froid_graphql.push(tableau(date(&mut rng), Some(departement)).1);
    }

    // The advisors: the first page of their queue, and the same page asked of GraphQL.
    let mut mls: Vec<String> = sqlx::query_scalar(
        "SELECT ml_id FROM rm_ruptures WHERE active AND ml_id IS NOT NULL GROUP BY ml_id ORDER BY count(*) DESC",
    )
    .fetch_all(&pool)
    .await?;
    let mut others = mls.split_off(mls.len().min(missions / 2));
    while mls.len() < missions && !others.is_empty() {
        mls.push(others.swap_remove(rng.random_range(0..others.len())));
    }
    let mut keys = MlKeys { pool: pool.clone(), keys: Default::default() };
    let page = "{ rupturesComptes { mois total aTraiter aRecontacter traites prioritaires } \
        ruptures(first: 100, liste: A_TRAITER) { edges { node { id dateRupture joursDepuisRupture prioritaire \
        liste nouveauContrat age situation codePostal dossier { id apprenant { nom prenom telephone email } } } } \
        pageInfo { hasNextPage endCursor } } }";
    let (mut file, mut file_graphql) = (Vec::new(), Vec::new());
    for ml in &mls {
        let spec = KeySpec {
            role: Role::MissionLocale,
            organisme: None,
            scope: Some(format!("MISSION_LOCALE:{ml}").parse().map_err(anyhow::Error::msg)?),
            label: None,
        };
        let cookie = session(&pool, &run, &format!("ml{ml}"), &spec).await?;
        file.push(Requete {
            method: "GET",
            path: "/console/ruptures".into(),
            headers: vec![("Cookie", cookie), ("Accept-Encoding", "gzip".into())],
            body: None,
        });
        file_graphql.push(Requete::graphql(&keys.of(ml).await?, page));
    }

    let mut server = Server::start(&support::sealed_log_url().await?)?;
    let address = server.address.clone();
    server.ready().await?;
    println!(
        "{dossiers} dossiers, {head} events; wrk: {users} connections, 2 threads, {seconds} s per phase, \
         {rounds} rounds; {QUESTIONS} dates, {} Missions Locales",
        mls.len()
    );
    let phases: [(&str, &Vec<Requete>, &str); 6] = [
        ("console: dashboard", &tableau_page, "id=\"territoires\""),
        ("graphql: the dashboard's figures", &tableau_graphql, "\"carte\""),
        ("console: dashboard, seldom asked", &froid_page, "id=\"territoires\""),
        ("graphql: its figures, seldom asked", &froid_graphql, "\"carte\""),
        ("console: first queue page", &file, "id=\"liste\""),
        ("graphql: rupturesComptes + ruptures(100)", &file_graphql, "\"ruptures\""),
    ];
    // Each request answers right; of the seldom asked, a few (checking is asking).
    for (i, (_, requests, marker)) in phases.iter().enumerate() {
        let checked = if i == 2 || i == 3 { 10 } else { requests.len() };
        check(&address, &requests[..checked.min(requests.len())], marker).await?;
    }
    for round in 1..=rounds {
        println!("round {round}");
        // The seldom asked questions of the round before emptied the memory of answers: both sides'
        // dashboards are asked once again first, so that they are compared from the same start.
        for (_, requests, marker) in &phases[..2] {
            check(&address, requests, marker).await?;
        }
        let mut measured: Vec<Charge> = Vec::new();
        for (name, requests, _) in &phases {
            let load = charge(&address, requests, users, seconds)?;
            println!("  {name:<42} {load}");
            measured.push(load);
        }
        println!(
            "  p99 console / graphql: dashboard {:.2}, seldom asked {:.2}, queue {:.2}",
            measured[0].p99 / measured[1].p99,
            measured[2].p99 / measured[3].p99,
            measured[4].p99 / measured[5].p99
        );
    }
    for (_, requests, marker) in &phases {
        check(&address, &requests[..requests.len().min(QUESTIONS)], marker).await?;
    }
    server.stop();
    Ok(())
}
