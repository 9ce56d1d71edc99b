//! `tba deca import`: an extract of the national contracts base becomes events, the apprentice's data
//! sealed; an unchanged extract writes nothing; a contract gone from a later extract is withdrawn; a bad
//! extract writes nothing.

use crate::common;

use common::TestDb;

const HEADER: &str = "numero_contrat;siret_employeur;opco;uai_organisme;siret_organisme;cfd;rncp;nom;prenom;\
                      date_de_naissance;ine;email;telephone;adresse;code_postal;code_commune_insee;date_debut;\
                      date_fin_prevue;date_rupture;cause_rupture";

fn row(numero: &str, nom: &str, rupture: &str) -> String {
    format!(
        "{numero};55210055400013;OPCO EP;0693456K;12345678901234;50022137;;{nom};Léa;14/03/2006;;\
         lea@example.org;0612345678;1 rue de la Paix;69003;69383;2025-09-01;2027-06-30;{rupture};démission"
    )
}

fn file(name: &str, rows: &[String]) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("deca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    path
}

fn import(db: &TestDb, path: &std::path::Path) -> String {
    let output = db.tba(&["deca", "import", path.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn an_extract_is_recorded_once_sealed_and_what_leaves_it_is_withdrawn() {
    let db = TestDb::new().await;
    let first = [row("C-1", "Martin", ""), row("C-2", "Durand", "2026-01-15")];
    assert!(import(&db, &file("a.csv", &first)).contains("2 created, 0 changed, 0 unchanged, 0 withdrawn"));
    assert!(import(&db, &file("a.csv", &first)).contains("0 created, 0 changed, 2 unchanged, 0 withdrawn"));
    assert_eq!(db.head().await, 2, "the same extract again writes nothing");
    let clear: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE data::text LIKE '%Martin%'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(clear, 0, "the apprentice's identity is sealed in the log");
    let (stream, empreinte): (String, Option<String>) =
        sqlx::query_as("SELECT stream_id, data->>'empreinte' FROM events WHERE position = 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(stream, "deca-C-1");
    assert_eq!(empreinte.map(|e| e.len()), Some(64));

    // The next week: C-1 broke, C-2 is gone.
    let later = [row("C-1", "Martin", "2026-11-20")];
    assert!(import(&db, &file("b.csv", &later)).contains("0 created, 1 changed, 0 unchanged, 1 withdrawn"));
    let types: Vec<(String, String)> =
        sqlx::query_as("SELECT stream_id, event_type FROM events WHERE position > 2 ORDER BY position")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        types,
        [
            ("deca-C-1".to_owned(), "ContratDecaEnregistre".to_owned()),
            ("deca-C-2".to_owned(), "ContratDecaRetire".to_owned())
        ]
    );
    assert!(import(&db, &file("b.csv", &later)).contains("0 created, 0 changed, 1 unchanged, 0 withdrawn"));

    let bad = [row("C-3", "Petit", ""), row("C-4", "", "1999-01-01")];
    let refused = db.tba(&["deca", "import", file("c.csv", &bad).to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("line 3: nom") && stderr.contains("line 3: date_rupture"), "{stderr}");
    assert_eq!(db.head().await, 4, "nothing of a refused extract is written");
    let verify = db.tba(&["verify"]);
    assert!(verify.status.success(), "{verify:?}");
}
