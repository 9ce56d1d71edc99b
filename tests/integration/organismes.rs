//! `tba organismes import`: the referential becomes events and a lookup table, all or nothing.

use crate::common;

use common::TestDb;

const HEADER: &str = "uai,siret,nom,code_commune_insee,code_postal,departement,nature";

fn file(name: &str, rows: &[&str]) -> std::path::PathBuf {
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("organismes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    path
}

#[tokio::test]
async fn importing_records_new_and_changed_organismes_once() {
    let db = TestDb::new().await;
    let rows = [
        "0693456K,12345678901234,CFA des Métiers,69383,69003,69,formateur",
        "0693455J,123 456 789 00012,Chambre de Métiers,,,69,responsable",
    ];
    let first = db.tba(&["organismes", "import", file("a.csv", &rows).to_str().unwrap()]);
    assert!(first.status.success(), "{first:?}");
    assert!(String::from_utf8_lossy(&first.stdout).contains("2 created, 0 changed, 0 unchanged"));
    assert_eq!(db.head().await, 2);
    let region: String =
        sqlx::query_scalar("SELECT region || '/' || academie FROM organismes WHERE uai = '0693456K'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(region, "84/10");

    let again = db.tba(&["organismes", "import", file("a.csv", &rows).to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 created, 0 changed, 2 unchanged"));
    assert_eq!(db.head().await, 2, "re-importing the same file writes nothing");

    let renamed = ["0693456K,12345678901234,CFA des Métiers de Lyon,69383,69003,69,formateur"];
    let changed = db.tba(&["organismes", "import", file("b.csv", &renamed).to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&changed.stdout).contains("0 created, 1 changed, 0 unchanged"));
    assert_eq!(db.head().await, 3);
    let event_type: String = sqlx::query_scalar("SELECT event_type FROM events WHERE position = 3")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(event_type, "OrganismeEnregistre");
}

#[tokio::test]
async fn a_file_with_a_bad_row_is_refused_whole_with_every_error_named() {
    let db = TestDb::new().await;
    let rows = [
        "0693456K,12345678901234,CFA,69383,69003,69,formateur",
        "069345K,12345678901234,CFA,69383,69003,69,formateur",
        "0693457L,12345678901235,,69383,69003,00,formateur",
        "0693456K,12345678901234,CFA,69383,69003,69,formateur",
        "0693458M,12345678901236,CFA,69383,69003,69,partenaire",
    ];
    let refused = db.tba(&["organismes", "import", file("bad.csv", &rows).to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for expected in [
        "line 3: uai",
        "line 4: nom",
        "line 4: departement",
        "line 5: uai",
        "line 6: nature",
        "nothing imported",
    ] {
        assert!(stderr.contains(expected), "{expected} missing from:\n{stderr}");
    }
    assert_eq!(db.head().await, 0, "nothing half-written");

    let no_column =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cols-{}.csv", std::process::id()));
    std::fs::write(&no_column, "uai,siret\n0693456K,12345678901234\n").unwrap();
    let refused = db.tba(&["organismes", "import", no_column.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("missing column"));

    let absent = db.tba(&["organismes", "import", "/nonexistent/organismes.csv"]);
    assert!(!absent.status.success());
    assert!(String::from_utf8_lossy(&absent.stderr).contains("cannot open /nonexistent/organismes.csv"));
}

#[tokio::test]
async fn reseaux_are_imported_whole_with_known_organismes_only() {
    let db = TestDb::new().await;
    db.with_organismes().await;
    let write = |name: &str, text: &str| {
        let path = file(name, &[]);
        std::fs::write(&path, text).unwrap();
        path
    };
    let (lyon, cma, paris) = (common::CFA_LYON, common::CMA_LYON, common::CFA_PARIS);
    let good = write(
        "reseaux.csv",
        &format!("reseau,nom,organismes\nCMA,Chambres,{}:{} {}:{}\n", lyon.0, lyon.1, cma.0, cma.1),
    );
    let imported = db.tba(&["reseaux", "import", good.to_str().unwrap()]);
    assert!(imported.status.success(), "{imported:?}");
    assert!(String::from_utf8_lossy(&imported.stdout).contains("1 réseaux imported, 2 organismes"));

    // A réseau naming an organisme the referential does not know refuses the file: nothing changes.
    let unknown = write(
        "inconnu.csv",
        &format!("reseau,nom,organismes\nCMA,Chambres,{}:{} 0751111B:11111111111111\n", paris.0, paris.1),
    );
    let refused = db.tba(&["reseaux", "import", unknown.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("0751111B:11111111111111"), "{stderr}");
    let bad = write("mauvais.csv", "reseau,nom,organismes\nCMA,,0693456K\n");
    let refused = db.tba(&["reseaux", "import", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("line 2: nom"), "{stderr}");
    assert_eq!(
        tba::auth::reseaux::members(&db.pool, "CMA").await.unwrap(),
        [format!("{}:{}", cma.0, cma.1), format!("{}:{}", lyon.0, lyon.1)]
    );
}

#[tokio::test]
async fn missions_locales_are_imported_once_and_place_young_people_by_residence() {
    let db = TestDb::new().await;
    let write = |name: &str, rows: &[&str]| {
        let path = file(name, &[]);
        std::fs::write(&path, format!("ml_id,nom,siret,email,telephone,communes\n{}\n", rows.join("\n")))
            .unwrap();
        path
    };
    let rows = [
        "ML-LYON,Mission Locale de Lyon,12345678901234,contact@ml-lyon.fr,04 72 00 00 00,69123 69266",
        "ML-PARIS,Mission Locale de Paris,98765432100017,,,75056",
    ];
    let path = write("ml.csv", &rows);
    let first = db.tba(&["missions-locales", "import", path.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("2 created, 0 changed, 0 unchanged"),
        "{first:?}"
    );
    let head = db.head().await;
    let again = db.tba(&["missions-locales", "import", path.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 created, 0 changed, 2 unchanged"),
        "{again:?}"
    );
    assert_eq!(db.head().await, head, "re-importing the same file writes nothing");

    let place = |insee: Option<&'static str>, postal: Option<&'static str>| {
        let pool = db.pool.clone();
        async move { tba::ingestion::missions_locales::place(&pool, insee, postal).await.unwrap() }
    };
    assert_eq!(place(Some("69383"), None).await.as_deref(), Some("ML-LYON"), "Lyon 3e is Lyon's");
    assert_eq!(place(None, Some("69100")).await.as_deref(), Some("ML-LYON"), "Villeurbanne by postal code");
    assert_eq!(place(Some("99999"), Some("75001")).await.as_deref(), Some("ML-PARIS"));
    assert_eq!(place(Some("13055"), None).await, None, "no Mission Locale serves Marseille here");

    // Taking a commune from a Mission Locale the file does not name refuses the file.
    let taking =
        write("prise.csv", &["ML-VILLEURBANNE,Mission Locale de Villeurbanne,12345678900012,,,69266"]);
    let refused = db.tba(&["missions-locales", "import", taking.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("69266 belongs to ML-LYON"), "{stderr}");
    let bad = write("mauvais.csv", &["ML-X,X,123,,,69123"]);
    let refused = db.tba(&["missions-locales", "import", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("line 2: siret"), "{stderr}");
    assert_eq!(db.head().await, head, "nothing refused is written");
}
