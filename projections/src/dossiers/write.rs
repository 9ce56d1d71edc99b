//! What a batch or a build writes: the dossier rows, the organismes, the formations' names, the
//! pending changes of the cubes, and the dossiers moved with their organisme.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use events::domain::AnneeScolaire;
use events::organisme::Organisme;
use sqlx::PgConnection;

use crate::copy::CopyRows;
use crate::indicateurs::historique::Historique;
use crate::indicateurs::versions::{self, Placement};
use crate::indicateurs::{Comptage, Deltas, Dimensions};
use crate::runtime::ProjectionError;
use crate::status::ChangePoint;

use super::read::territoires;
use super::row::{Row, Territoires};

/// A dossier's counts as its row stores them.
pub(super) struct CountedRow {
    dossier_id: String,
    annee_scolaire: String,
    date_de_naissance: chrono::NaiveDate,
    parcours: serde_json::Value,
    departement: String,
    region: String,
    academie: String,
    uai_formateur: String,
    siret_formateur: String,
    formation: String,
    niveau: Option<i16>,
    annee_formation: Option<i16>,
    source: String,
}

/// The formations' names the dossiers carry: of the dossiers `refolded`, those whose formation or
/// name changed (or that have none now) are taken back and their `rows`' added, and each formation's
/// count per name moved by the difference. A dossier whose name did not change is not written.
pub(super) async fn write_libelles(
    tx: &mut PgConnection,
    refolded: &[String],
    rows: &[Row],
) -> Result<(), ProjectionError> {
    let old: HashMap<String, (String, String)> = sqlx::query_as::<_, (String, String, String)>(
        "SELECT dossier_id, formation, libelle FROM rm_dossiers_libelles WHERE dossier_id = ANY($1)",
    )
    .bind(refolded)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(id, formation, libelle)| (id, (formation, libelle)))
    .collect();
    let now = named(rows);
    let same = |id: &str, f: &str, l: &str| old.get(id).is_some_and(|(of, ol)| of == f && ol == l);
    let added: Vec<(&str, &str, &str)> = now.iter().copied().filter(|(id, f, l)| !same(id, f, l)).collect();
    let kept: std::collections::HashSet<&str> =
        now.iter().filter(|(id, f, l)| same(id, f, l)).map(|(id, _, _)| *id).collect();
    let taken_back: Vec<&String> = old.keys().filter(|id| !kept.contains(id.as_str())).collect();
    let mut counts: HashMap<(String, String), i64> = HashMap::new();
    if !taken_back.is_empty() {
        sqlx::query("DELETE FROM rm_dossiers_libelles WHERE dossier_id = ANY($1)")
            .bind(&taken_back)
            .execute(&mut *tx)
            .await?;
        for id in taken_back {
            *counts.entry(old[id].clone()).or_default() -= 1;
        }
    }
    insert_libelles(tx, &added).await?;
    for (_, formation, libelle) in added {
        *counts.entry((formation.to_owned(), libelle.to_owned())).or_default() += 1;
    }
    counts.retain(|_, n| *n != 0);
    if counts.is_empty() {
        return Ok(());
    }
    let mut counts: Vec<((String, String), i64)> = counts.into_iter().collect();
    counts.sort();
    let formations: Vec<&str> = counts.iter().map(|((f, _), _)| f.as_str()).collect();
    sqlx::query(
        "INSERT INTO rm_formations_libelles (formation, libelle, n)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
         ON CONFLICT (formation, libelle) DO UPDATE SET n = rm_formations_libelles.n + excluded.n",
    )
    .bind(&formations)
    .bind(counts.iter().map(|((_, l), _)| l.as_str()).collect::<Vec<_>>())
    .bind(counts.iter().map(|(_, n)| *n).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM rm_formations_libelles WHERE formation = ANY($1) AND n = 0")
        .bind(&formations)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// `(dossier, formation, name)` of each row that has both a formation and its name.
pub(super) fn named(rows: &[Row]) -> Vec<(&str, &str, &str)> {
    rows.iter()
        .filter(|r| !r.comptage.dims.formation.is_empty())
        .filter_map(|r| {
            Some((r.dossier_id.as_str(), &*r.comptage.dims.formation, r.libelle_formation.as_deref()?))
        })
        .collect()
}

/// Record these `(dossier, formation, name)`.
pub(super) async fn insert_libelles(
    tx: &mut PgConnection,
    named: &[(&str, &str, &str)],
) -> Result<(), ProjectionError> {
    if !named.is_empty() {
        sqlx::query(
            "INSERT INTO rm_dossiers_libelles (dossier_id, formation, libelle)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
        )
        .bind(named.iter().map(|n| n.0).collect::<Vec<_>>())
        .bind(named.iter().map(|n| n.1).collect::<Vec<_>>())
        .bind(named.iter().map(|n| n.2).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Whose counts to read back.
pub(super) enum Counted<'a> {
    Dossiers(&'a [String]),
    OfOrganismes(&'a [(String, String)]),
}

/// What some dossiers count for now (each query on its own index).
pub(super) async fn counted(
    tx: &mut PgConnection,
    which: Counted<'_>,
) -> Result<Vec<(String, Comptage)>, ProjectionError> {
    let rows = match which {
        Counted::Dossiers(ids) => sqlx::query_as!(
            CountedRow,
            r#"SELECT dossier_id, annee_scolaire, date_de_naissance, parcours, departement, region, academie,
                          uai_formateur, siret_formateur, formation, niveau, annee_formation, source
                   FROM rm_dossiers WHERE dossier_id = ANY($1)"#,
            ids,
        )
        .fetch_all(tx)
        .await?,
        Counted::OfOrganismes(organismes) => {
            let (uais, sirets): (Vec<String>, Vec<String>) = organismes.iter().cloned().unzip();
            sqlx::query_as!(
                CountedRow,
                r#"SELECT dossier_id, annee_scolaire, date_de_naissance, parcours, departement, region, academie,
                          uai_formateur, siret_formateur, formation, niveau, annee_formation, source
                   FROM rm_dossiers d JOIN unnest($1::text[], $2::text[]) AS o(uai, siret)
                        ON (d.uai_formateur, d.siret_formateur) = (o.uai, o.siret)"#,
                &uais,
                &sirets,
            )
            .fetch_all(tx)
            .await?
        }
    };
    rows.into_iter()
        .map(|r| {
            let invalid = |message: String| ProjectionError::ReadModel { table: "rm_dossiers", message };
            let annee_scolaire =
                AnneeScolaire::parse(&r.annee_scolaire).map_err(|e| invalid(e.to_string()))?;
            let parcours: Vec<ChangePoint> =
                serde_json::from_value(r.parcours).map_err(|e| invalid(e.to_string()))?;
            let dims = Dimensions {
                departement: r.departement.into(),
                region: r.region.into(),
                academie: r.academie.into(),
                uai: r.uai_formateur.into(),
                siret: r.siret_formateur.into(),
                formation: r.formation.into(),
                niveau: r.niveau.unwrap_or(0),
                annee_formation: Dimensions::annee_formation_de(r.annee_formation),
                source: r.source.into(),
            };
            Ok((r.dossier_id, Comptage { annee_scolaire, naissance: r.date_de_naissance, parcours, dims }))
        })
        .collect()
}

/// The dossiers of organismes that `moved` to another territory, and that the batch did not refold
/// anyway (`refolded`), are counted again under the new territory.
pub(super) async fn relocate(
    tx: &mut PgConnection,
    moved: &Territoires,
    refolded: &std::collections::HashSet<&str>,
    deltas: &mut Deltas,
    (historique, position): (&mut Historique, i64),
) -> Result<(), ProjectionError> {
    if moved.is_empty() {
        return Ok(());
    }
    let organismes: Vec<(String, String)> = moved.keys().cloned().collect();
    let mut ids = Vec::new();
    for (id, old) in counted(tx, Counted::OfOrganismes(&organismes)).await? {
        if refolded.contains(id.as_str()) {
            continue;
        }
        let key = (old.dims.uai.to_string(), old.dims.siret.to_string());
        let (departement, region, academie) = moved[&key].clone();
        let new = Comptage {
            dims: Dimensions { departement, region, academie, ..old.dims.clone() },
            ..old.clone()
        };
        deltas.add(&old, -1);
        deltas.add(&new, 1);
        historique.add(position, &old, -1);
        historique.add(position, &new, 1);
        ids.push(id);
    }
    sqlx::query!(
        r#"UPDATE rm_dossiers d SET departement = o.departement, region = o.region, academie = o.academie
           FROM rm_organismes o
           WHERE d.dossier_id = ANY($1) AND o.uai = d.uai_formateur AND o.siret = d.siret_formateur"#,
        &ids,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Upsert the batch's organismes; returns those that were known elsewhere, with their new territory.
pub(super) async fn write_organismes(
    tx: &mut PgConnection,
    organismes: &[(Organisme, i64)],
) -> Result<Territoires, ProjectionError> {
    if organismes.is_empty() {
        return Ok(Territoires::new());
    }
    // The last event of an organisme in the batch wins.
    let mut latest: BTreeMap<(String, String), &(Organisme, i64)> = BTreeMap::new();
    for entry in organismes {
        latest.insert((entry.0.uai.to_string(), entry.0.siret.to_string()), entry);
    }
    let placements: Vec<Placement> = organismes
        .iter()
        .map(|(o, position)| Placement {
            uai: o.uai.to_string(),
            siret: o.siret.to_string(),
            position: *position,
            territoire: (o.departement.as_str().into(), o.region.as_str().into(), o.academie.as_str().into()),
        })
        .collect();
    versions::placer(tx, &placements).await?;
    let before = territoires(tx, Some(latest.keys().cloned().collect())).await?;
    let column = |f: fn(&(Organisme, i64)) -> String| latest.values().map(|e| f(e)).collect::<Vec<_>>();
    sqlx::query!(
        r#"INSERT INTO rm_organismes (uai, siret, nom, departement, region, academie, position)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
           ON CONFLICT (uai, siret) DO UPDATE SET nom = excluded.nom, departement = excluded.departement,
               region = excluded.region, academie = excluded.academie, position = excluded.position"#,
        &column(|e| e.0.uai.to_string()),
        &column(|e| e.0.siret.to_string()),
        &column(|e| e.0.nom.clone()),
        &column(|e| e.0.departement.clone()),
        &column(|e| e.0.region.clone()),
        &column(|e| e.0.academie.clone()),
        &latest.values().map(|e| e.1).collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(latest
        .into_iter()
        .filter_map(|(key, (o, _))| {
            let now: (Arc<str>, Arc<str>, Arc<str>) =
                (o.departement.as_str().into(), o.region.as_str().into(), o.academie.as_str().into());
            before.get(&key).is_some_and(|then| *then != now).then_some((key, now))
        })
        .collect())
}

/// Upsert these rows, each with its identity as `sealed` gives it (same order).
pub(super) async fn write_dossiers(
    tx: &mut PgConnection,
    rows: &[Row],
    sealed: &[Option<Vec<u8>>],
    rules_version: i32,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&Row) -> &str| rows.iter().map(|r| f(r).to_owned()).collect::<Vec<String>>();
    let optional = |f: fn(&Row) -> Option<&String>| rows.iter().map(|r| f(r).cloned()).collect::<Vec<_>>();
    sqlx::query!(
        r#"INSERT INTO rm_dossiers (dossier_id, annee_scolaire, id_erp_apprenant, uai_formateur, siret_formateur,
                                   uai_responsable, siret_responsable, cfd, rncp, niveau, annee_formation,
                                   date_de_naissance, code_commune_insee, personne, rqth, retire, rules_version,
                                   parcours, position, departement, region, academie, formation, source,
                                   apprenant)
           SELECT d, a, e, uf, sf, ur, sr, c, r, n, af, dn, ci, p, q, rt, $17, pc, po, de, re, ac, fo, so, ap
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::smallint[], $11::smallint[], $12::date[], $13::text[],
                       $14::text[], $15::boolean[], $16::boolean[], $18::jsonb[], $19::bigint[],
                       $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::bytea[])
                AS t(d, a, e, uf, sf, ur, sr, c, r, n, af, dn, ci, p, q, rt, pc, po, de, re, ac, fo, so, ap)
           ON CONFLICT (dossier_id) DO UPDATE SET
               annee_scolaire = excluded.annee_scolaire, id_erp_apprenant = excluded.id_erp_apprenant,
               uai_formateur = excluded.uai_formateur, siret_formateur = excluded.siret_formateur,
               uai_responsable = excluded.uai_responsable, siret_responsable = excluded.siret_responsable,
               cfd = excluded.cfd, rncp = excluded.rncp, niveau = excluded.niveau,
               annee_formation = excluded.annee_formation, date_de_naissance = excluded.date_de_naissance,
               code_commune_insee = excluded.code_commune_insee, personne = excluded.personne,
               rqth = excluded.rqth, retire = excluded.retire, rules_version = excluded.rules_version,
               parcours = excluded.parcours, position = excluded.position, departement = excluded.departement,
               region = excluded.region, academie = excluded.academie, formation = excluded.formation,
               source = excluded.source, apprenant = excluded.apprenant"#,
        &text(|r| &r.dossier_id),
        &text(|r| r.comptage.annee_scolaire.as_str()),
        &text(|r| &r.id_erp_apprenant),
        &text(|r| &r.comptage.dims.uai),
        &text(|r| &r.comptage.dims.siret),
        &text(|r| &r.uai_responsable),
        &text(|r| &r.siret_responsable),
        &optional(|r| r.cfd.as_ref()) as &[Option<String>],
        &optional(|r| r.rncp.as_ref()) as &[Option<String>],
        &rows.iter().map(|r| r.comptage.dims.niveau_connu()).collect::<Vec<_>>() as &[Option<i16>],
        &rows.iter().map(|r| r.comptage.dims.annee_formation_connue()).collect::<Vec<_>>() as &[Option<i16>],
        &rows.iter().map(|r| r.comptage.naissance).collect::<Vec<_>>(),
        &optional(|r| r.code_commune_insee.as_ref()) as &[Option<String>],
        &text(|r| &r.personne),
        &rows.iter().map(|r| r.rqth).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.retire).collect::<Vec<_>>(),
        rules_version,
        &rows
            .iter()
            .map(|r| serde_json::to_value(&r.comptage.parcours).expect("change points serialise"))
            .collect::<Vec<_>>(),
        &rows.iter().map(|r| r.position).collect::<Vec<_>>(),
        &text(|r| &r.comptage.dims.departement),
        &text(|r| &r.comptage.dims.region),
        &text(|r| &r.comptage.dims.academie),
        &text(|r| &r.comptage.dims.formation),
        &text(|r| &r.comptage.dims.source),
        sealed as &[Option<Vec<u8>>],
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Take out the rows of dossiers that count for nothing any more (DECA contracts withdrawn, or whose
/// organisme now transmits).
pub(super) async fn delete_dossiers(tx: &mut PgConnection, ids: &[String]) -> Result<(), ProjectionError> {
    if !ids.is_empty() {
        sqlx::query("DELETE FROM rm_dossiers WHERE dossier_id = ANY($1)").bind(ids).execute(tx).await?;
    }
    Ok(())
}

/// Load rows into an empty `rm_dossiers`, with COPY (a build from nothing), each with its identity as
/// `sealed` gives it (same order).
pub(super) async fn copy_dossiers(
    tx: &mut PgConnection,
    rows: &[Row],
    sealed: &[Option<Vec<u8>>],
    rules_version: u32,
) -> Result<(), ProjectionError> {
    let mut copy = CopyRows::default();
    for (r, sealed) in rows.iter().zip(sealed) {
        let dims = &r.comptage.dims;
        let parcours = serde_json::to_string(&r.comptage.parcours).expect("change points serialise");
        copy.text(&r.dossier_id)
            .text(r.comptage.annee_scolaire.as_str())
            .text(&r.id_erp_apprenant)
            .text(&dims.uai)
            .text(&dims.siret)
            .text(&r.uai_responsable)
            .text(&r.siret_responsable)
            .optional_text(r.cfd.as_deref())
            .optional_text(r.rncp.as_deref())
            .optional(dims.niveau_connu())
            .optional(dims.annee_formation_connue())
            .plain(r.comptage.naissance)
            .optional_text(r.code_commune_insee.as_deref())
            .text(&r.personne)
            .plain(r.rqth)
            .plain(r.retire)
            .plain(rules_version)
            .text(&parcours)
            .plain(r.position)
            .text(&dims.departement)
            .text(&dims.region)
            .text(&dims.academie)
            .text(&dims.formation)
            .text(&dims.source)
            .optional_bytes(sealed.as_deref())
            .end_row();
    }
    let columns = [
        "dossier_id",
        "annee_scolaire",
        "id_erp_apprenant",
        "uai_formateur",
        "siret_formateur",
        "uai_responsable",
        "siret_responsable",
        "cfd",
        "rncp",
        "niveau",
        "annee_formation",
        "date_de_naissance",
        "code_commune_insee",
        "personne",
        "rqth",
        "retire",
        "rules_version",
        "parcours",
        "position",
        "departement",
        "region",
        "academie",
        "formation",
        "source",
        "apprenant",
    ];
    copy.send(tx, "rm_dossiers", &columns).await?;
    Ok(())
}
