//! A past day's answer, and the queue across identity corrections.

use crate::common;

use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use common::gql::{graphql, key};
use serde_json::{Value, json};
use tba::auth::keys::Role;

use super::{LYON, days_ago, entree_of, erase, push, rupture, setup, today};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_past_day_has_one_answer_the_situations_recorded_by_its_end() {
    let (db, app, lyon, projections) = setup().await;
    push(&app, &lyon, json!([rupture("R-1", "Durand", 19, 20, LYON), rupture("R-2", "Petit", 20, 30, LYON)]))
        .await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let entree = entree_of(&db, "R-1").await;
    // Today an advisor qualifies an entry whose rupture is 20 days old.
    let (_, done) = graphql(
        &app,
        Some(&ml),
        &format!("mutation {{ renseignerSituation(entree: {entree:?}, situation: RDV_PRIS, commentaire: \"vu\") {{ liste }} }}"),
    )
    .await;
    assert_eq!(done["data"]["renseignerSituation"]["liste"], "TRAITES", "{done}");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);

    // Each question of a day: the counts, the statistics, the list and the entry.
    let asked = |date: NaiveDate| {
        let (app, ml, entree) = (&app, &ml, &entree);
        async move {
            let query = format!(
                r#"{{ rupturesComptes(date: "{date}") {{ mois total aTraiter traites }}
                     statsMissionsLocales(date: "{date}") {{ total aTraiter traites }}
                     ruptures(date: "{date}") {{ edges {{ node {{ id liste situation commentaire }} }} }}
                     rupture(id: {entree:?}, date: "{date}") {{ liste situation }} }}"#
            );
            let (_, answer) = graphql(app, Some(ml), &query).await;
            let data = &answer["data"];
            let listed = data["ruptures"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["node"]["id"] == json!(entree))
                .map(|e| e["node"].clone());
            (
                [&data["rupturesComptes"][0]["aTraiter"], &data["rupturesComptes"][0]["traites"]]
                    .map(Value::clone),
                [&data["statsMissionsLocales"][0]["aTraiter"], &data["statsMissionsLocales"][0]["traites"]]
                    .map(Value::clone),
                listed,
                data["rupture"].clone(),
            )
        }
    };
    let (comptes, stats, listed, une) = asked(days_ago(1)).await;
    assert_eq!(comptes, [json!(2), json!(0)], "yesterday, nothing was recorded yet");
    assert_eq!(stats, comptes, "the statistics of yesterday say the same");
    assert_eq!(
        listed,
        Some(json!({ "id": entree, "liste": "A_TRAITER", "situation": null, "commentaire": null }))
    );
    assert_eq!(une, json!({ "liste": "A_TRAITER", "situation": null }));
    let (comptes, stats, listed, une) = asked(today()).await;
    assert_eq!(comptes, [json!(1), json!(1)], "today the situation counts");
    assert_eq!(stats, comptes);
    assert_eq!(
        listed,
        Some(json!({ "id": entree, "liste": "TRAITES", "situation": "RDV_PRIS", "commentaire": "vu" }))
    );
    assert_eq!(une, json!({ "liste": "TRAITES", "situation": "RDV_PRIS" }));
    projections.stop().await;
}

/// An ERP corrects a learner's birth date: the dossier is the corrected person's from then on. Their
/// entry in the queue moves to the new person key with what the advisors recorded under the old one,
/// a past day's question still reads those actions, the age and the eligibility (16–25) follow, and
/// erasing the person erases what was sealed under the old key too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_correction_moves_the_entry_and_its_follow_up_to_the_corrected_person() {
    let (db, app, lyon, projections) = setup().await;
    let wrong = rupture("R-ID", "Moreau", 19, 20, LYON);
    push(&app, &lyon, json!([wrong.clone()])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let entree_now = || {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT r.entree FROM rm_ruptures r JOIN rm_dossiers d USING (dossier_id)
                 WHERE d.id_erp_apprenant = 'R-ID' AND r.active",
            )
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    };
    let old = entree_now().await.unwrap();
    let (_, done) = graphql(
        &app,
        Some(&ml),
        &format!(
            "mutation {{ renseignerSituation(entree: {old:?}, situation: CONTACTE_SANS_RETOUR, commentaire: \"messagerie\") {{ liste }} }}"
        ),
    )
    .await;
    assert_eq!(done["data"]["renseignerSituation"]["liste"], "A_RECONTACTER", "{done}");

    // The ERP corrects the birth date: one year older, still eligible.
    let mut corrected = wrong.clone();
    let born: NaiveDate = wrong["date_de_naissance_apprenant"].as_str().unwrap().parse().unwrap();
    corrected["date_de_naissance_apprenant"] = json!(born.with_year(born.year() - 1).unwrap());
    let (status, answer) = app.post("/api/v3/dossiers-apprenants", &lyon, &json!([corrected])).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["events"], json!(["IdentiteModifiee"]), "{answer}");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let new = entree_now().await.unwrap();
    assert_ne!(new, old, "the entry is the corrected person's");
    let (_, queue) =
        graphql(&app, Some(&ml), "{ ruptures { edges { node { id age liste situation commentaire } } } }")
            .await;
    assert_eq!(
        queue["data"]["ruptures"]["edges"],
        json!([{ "node": { "id": new, "age": 20, "liste": "A_RECONTACTER", "situation": "CONTACTE_SANS_RETOUR", "commentaire": "messagerie" } }]),
        "one entry, the new person's, with the situation recorded under the old key: {queue}"
    );
    let history = |entree: &str, date: NaiveDate| {
        format!(
            r#"{{ rupture(id: {entree:?}, date: "{date}") {{ liste situation historique {{ type commentaire }} }} }}"#
        )
    };
    let (_, read) = graphql(&app, Some(&ml), &history(&new, today())).await;
    assert_eq!(
        read["data"]["rupture"],
        json!({ "liste": "A_RECONTACTER", "situation": "CONTACTE_SANS_RETOUR",
                "historique": [{ "type": "SituationRenseignee", "commentaire": "messagerie" }] }),
        "{read}"
    );
    // A past day's question reads the actions recorded under the old key too (here, tomorrow's
    // question of today is asked as a past day's by the counts of today).
    let (_, comptes) = graphql(
        &app,
        Some(&ml),
        &format!(r#"{{ rupturesComptes(date: "{}") {{ aTraiter aRecontacter }} }}"#, today()),
    )
    .await;
    assert_eq!(comptes["data"]["rupturesComptes"][0]["aRecontacter"], 1, "{comptes}");

    // An advisor acting on the new entry adds to the same history.
    let (_, done) = graphql(
        &app,
        Some(&ml),
        &format!("mutation {{ renseignerSituation(entree: {new:?}, situation: RDV_PRIS) {{ liste historique {{ situation }} }} }}"),
    )
    .await;
    assert_eq!(
        done["data"]["renseignerSituation"],
        json!({ "liste": "TRAITES", "historique": [{ "situation": "CONTACTE_SANS_RETOUR" }, { "situation": "RDV_PRIS" }] }),
        "{done}"
    );
    db.assert_rebuild_of("ruptures");

    // Corrected again, to 30 years old: no longer eligible, the entry leaves the queue.
    let mut older = wrong.clone();
    older["date_de_naissance_apprenant"] = json!(born.with_year(born.year() - 11).unwrap());
    push(&app, &lyon, json!([older])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let (_, queue) = graphql(&app, Some(&ml), "{ ruptures { edges { node { id } } } }").await;
    assert_eq!(queue["data"]["ruptures"]["edges"], json!([]), "{queue}");

    // Erasing the person erases what was sealed under the keys the dossier had before.
    let personne: String =
        sqlx::query_scalar("SELECT personne FROM rm_dossiers WHERE id_erp_apprenant = 'R-ID'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let admin = key(&db, Role::Administrateur, None).await;
    let (_, erased) = graphql(
        &app,
        Some(&admin),
        &format!(
            r#"mutation {{ effacerPersonne(personne: {personne:?}, motif: "demande", baseLegale: DROIT_A_L_EFFACEMENT) {{ position }} }}"#
        ),
    )
    .await;
    assert!(erased["data"]["effacerPersonne"]["position"].is_i64(), "{erased}");
    let anciennes: Value = sqlx::query_scalar(
        "SELECT data::jsonb -> 'anciennes' FROM events WHERE event_type = 'PersonneEffacee'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut expected = vec![old.clone(), new.clone()];
    expected.sort();
    assert_eq!(anciennes, json!(expected), "the keys of the dossier before");
    let destroyed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM personnes_cles WHERE personne = ANY($1) AND cle IS NULL AND efface_le IS NOT NULL",
    )
    .bind([old.clone(), new.clone(), personne.clone()])
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(destroyed, 3, "every key the person's data was sealed under is destroyed");
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let commentaires: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM rm_rupture_actions WHERE entree = ANY($1) AND data::jsonb ? 'commentaire'",
    )
    .bind([old, new])
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(commentaires, 0, "what the advisors wrote of the person is gone from the read model");
    db.assert_rebuild_gives_the_live_checksum();
    projections.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wish_for_an_appointment_makes_the_entry_prioritaire_and_a_problem_is_kept_until_erasure() {
    let (db, app, lyon, projections) = setup().await;
    // 22 years old, no RQTH, no joint follow-up asked: prioritaire for none of §7's reasons.
    push(&app, &lyon, json!([rupture("W-1", "Voeu", 22, 20, LYON)])).await;
    assert!(db.projection_caught_up(Duration::from_secs(30)).await);
    let ml = key(&db, Role::MissionLocale, Some("MISSION_LOCALE:ML-LYON")).await;
    let entree: String =
        sqlx::query_scalar("SELECT entree FROM rm_ruptures LIMIT 1").fetch_one(&db.pool).await.unwrap();
    let situation = |rest: &str| {
        format!(
            "mutation {{ renseignerSituation(entree: {entree:?}, {rest}) {{ prioritaire souhaiteRdv problemeType problemeDetail }} }}"
        )
    };
    let refused =
        graphql(&app, Some(&ml), &situation("situation: CONTACTE_SANS_RETOUR, problemeType: AUTRE")).await.1;
    assert_eq!(refused["errors"][0]["extensions"]["field"], "problemeDetail", "{refused}");
    let (_, tried) = graphql(
        &app,
        Some(&ml),
        &situation(
            "situation: CONTACTE_SANS_RETOUR, problemeType: AUTRE, problemeDetail: \"numéro d'un tiers\"",
        ),
    )
    .await;
    assert_eq!(
        tried["data"]["renseignerSituation"],
        json!({ "prioritaire": false, "souhaiteRdv": false, "problemeType": "AUTRE", "problemeDetail": "numéro d'un tiers" }),
        "{tried}"
    );
    let (_, wished) = graphql(&app, Some(&ml), &situation("situation: RDV_PRIS, souhaiteRdv: true")).await;
    assert_eq!(
        wished["data"]["renseignerSituation"],
        json!({ "prioritaire": true, "souhaiteRdv": true, "problemeType": null, "problemeDetail": null }),
        "the latest situation speaks: {wished}"
    );
    // Yesterday, nothing was recorded yet: the entry was not prioritaire then.
    let yesterday = days_ago(1);
    let (_, before) = graphql(
        &app,
        Some(&ml),
        &format!("{{ rupture(id: {entree:?}, date: \"{yesterday}\") {{ prioritaire souhaiteRdv }} }}"),
    )
    .await;
    assert_eq!(before["data"]["rupture"], json!({ "prioritaire": false, "souhaiteRdv": false }), "{before}");
    let history = format!(
        "{{ rupture(id: {entree:?}) {{ historique {{ situation problemeType problemeDetail souhaiteRdv }} }} }}"
    );
    let (_, read) = graphql(&app, Some(&ml), &history).await;
    assert_eq!(
        read["data"]["rupture"]["historique"],
        json!([
            { "situation": "CONTACTE_SANS_RETOUR", "problemeType": "AUTRE", "problemeDetail": "numéro d'un tiers", "souhaiteRdv": false },
            { "situation": "RDV_PRIS", "problemeType": null, "problemeDetail": null, "souhaiteRdv": true }
        ]),
        "{read}"
    );
    projections.stop().await;
    db.assert_rebuild_of("ruptures");

    // Erased, the person's problem in words no longer opens; what it was about stays.
    let projections = tba::read_models::Projections::start(&app.store);
    let admin = key(&db, Role::Administrateur, None).await;
    erase(&db, &app, &admin, &entree).await;
    let (_, read) = graphql(&app, Some(&admin), &history).await;
    assert_eq!(read["data"]["rupture"]["historique"][0]["problemeType"], "AUTRE", "{read}");
    assert_eq!(read["data"]["rupture"]["historique"][0]["problemeDetail"], Value::Null, "{read}");
    projections.stop().await;
}
