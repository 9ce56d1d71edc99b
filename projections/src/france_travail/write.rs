//! What a batch of the `france_travail` projection writes: the formations, the advisors' situations,
//! the dossiers as the queue keeps them, the erasure of a person's data, and the enrolments.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use events::RecordedEvent;
use events::envelope::category_of;
use events::formation::Formation;
use events::france_travail::{
    SITUATION_FRANCE_TRAVAIL_RENSEIGNEE, SituationFranceTravailRenseignee, personne_of,
};
use events::personne::PersonneEffacee;
use sqlx::PgConnection;
use sqlx::types::Json;

use super::episodes::{DossierFt, inscriptions};
use crate::runtime::ProjectionError;
use crate::status::ChangePoint;

/// Record a formation, and give the enrolments in it their sectors (stamped when they change).
pub(super) async fn write_formation(
    tx: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let formation: Formation = serde_json::from_value(event.data.clone())
        .map_err(|e| ProjectionError::Event { position: event.position, message: e.to_string() })?;
    let secteurs: Vec<String> = formation.secteurs().into_iter().map(String::from).collect();
    let codes: Vec<String> = formation.codes_rome.iter().cloned().collect();
    let rncp = formation.rncp.as_ref().map(ToString::to_string);
    sqlx::query(
        "INSERT INTO rm_ft_formations (cfd, rncp, libelle, niveau, codes_rome, secteurs, position)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (cfd) DO UPDATE SET rncp = excluded.rncp, libelle = excluded.libelle, niveau = excluded.niveau,
             codes_rome = excluded.codes_rome, secteurs = excluded.secteurs, position = excluded.position",
    )
    .bind(formation.cfd.as_str())
    .bind(&rncp)
    .bind(&formation.libelle)
    .bind(formation.niveau.map(i16::from))
    .bind(&codes)
    .bind(&secteurs)
    .bind(event.position)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE rm_ft_entrees SET secteurs = $3, position = $4
         WHERE (cfd = $1 OR (cfd IS NULL AND rncp = $2)) AND secteurs IS DISTINCT FROM $3",
    )
    .bind(formation.cfd.as_str())
    .bind(&rncp)
    .bind(&secteurs)
    .bind(event.position)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Record the batch's situations; the persons they are about, with the position of the last.
pub(super) async fn write_actions(
    tx: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<BTreeMap<String, i64>, ProjectionError> {
    let mut personnes = BTreeMap::new();
    let mut rows: Vec<(&RecordedEvent, &str, SituationFranceTravailRenseignee)> = Vec::new();
    for e in events.iter().filter(|e| category_of(&e.stream_id) == "france_travail") {
        if e.event_type != SITUATION_FRANCE_TRAVAIL_RENSEIGNEE {
            continue;
        }
        let invalid = |message: String| ProjectionError::Event { position: e.position, message };
        let personne = personne_of(&e.stream_id).ok_or_else(|| invalid("not a follow-up stream".into()))?;
        let situation: SituationFranceTravailRenseignee =
            serde_json::from_value(e.data.clone()).map_err(|err| invalid(err.to_string()))?;
        personnes.insert(personne.to_owned(), e.position);
        rows.push((e, personne, situation));
    }
    if rows.is_empty() {
        return Ok(personnes);
    }
    sqlx::query(
        "INSERT INTO rm_ft_actions (position, entree, secteur, situation, commentaire, date_inscription, organisation,
                                    principal, recorded_at)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[], $7::text[],
                              $8::text[], $9::timestamptz[])",
    )
    .bind(rows.iter().map(|r| r.0.position).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2.secteur.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2.situation.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2.commentaire.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2.date_inscription).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.metadata.actor.organisation.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.metadata.actor.principal.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.recorded_at).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(personnes)
}

/// Forget the comments about erased persons, and name their dossiers to fold again; each erased
/// person's entry is written again at the erasure's position.
pub(super) async fn erase(
    tx: &mut PgConnection,
    events: &[RecordedEvent],
    personnes: &mut BTreeMap<String, i64>,
) -> Result<Vec<String>, ProjectionError> {
    let erased = PersonneEffacee::keys_in(events);
    if erased.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = erased.iter().map(|(k, _)| k.clone()).collect();
    sqlx::query("UPDATE rm_ft_actions SET commentaire = NULL WHERE entree = ANY($1)")
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
    for (k, position) in erased {
        let at = personnes.entry(k).or_default();
        *at = (*at).max(position);
    }
    Ok(sqlx::query_scalar("SELECT dossier_id FROM rm_ft_dossiers WHERE personne = ANY($1)")
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await?)
}

/// Upsert the refolded dossiers; the persons concerned (a dossier's former person too, when its
/// identity was corrected), each with the position of the dossier's last event.
pub(super) async fn write_dossiers(
    tx: &mut PgConnection,
    rows: &[((DossierFt, String), i64)],
) -> Result<Vec<(String, i64)>, ProjectionError> {
    let ids: Vec<&str> = rows.iter().map(|((d, _), _)| d.dossier_id.as_str()).collect();
    let last: HashMap<&str, i64> = rows.iter().map(|((d, _), p)| (d.dossier_id.as_str(), *p)).collect();
    let known: Vec<(String, String)> =
        sqlx::query_as("SELECT dossier_id, personne FROM rm_ft_dossiers WHERE dossier_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
    let mut personnes: Vec<(String, i64)> = known
        .iter()
        .map(|(id, personne)| (personne.clone(), last.get(id.as_str()).copied().unwrap_or_default()))
        .collect();
    personnes.extend(rows.iter().map(|((_, p), position)| (p.clone(), *position)));
    let col = |f: fn(&DossierFt) -> Option<String>| rows.iter().map(|((d, _), _)| f(d)).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO rm_ft_dossiers (dossier_id, personne, parcours, date_de_naissance, code_commune_insee, code_postal,
                                     cfd, rncp, retire, uai_formateur, siret_formateur, anciennes, position)
         SELECT d, p, pa, n, ci, cp, cf, rn, re, uf, sf, ARRAY(SELECT jsonb_array_elements_text(an)), po
         FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::date[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::boolean[], $10::text[], $11::text[], $12::jsonb[], $13::bigint[])
              AS t(d, p, pa, n, ci, cp, cf, rn, re, uf, sf, an, po)
         ON CONFLICT (dossier_id) DO UPDATE SET personne = excluded.personne, parcours = excluded.parcours,
             date_de_naissance = excluded.date_de_naissance, code_commune_insee = excluded.code_commune_insee,
             code_postal = excluded.code_postal, cfd = excluded.cfd, rncp = excluded.rncp, retire = excluded.retire,
             uai_formateur = excluded.uai_formateur, siret_formateur = excluded.siret_formateur,
             anciennes = excluded.anciennes, position = excluded.position",
    )
    .bind(&ids)
    .bind(rows.iter().map(|((_, p), _)| p.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|((d, _), _)| serde_json::json!(d.parcours)).collect::<Vec<_>>())
    .bind(rows.iter().map(|((d, _), _)| d.naissance).collect::<Vec<_>>())
    .bind(col(|d| d.code_commune_insee.clone()))
    .bind(col(|d| d.code_postal.clone()))
    .bind(col(|d| d.cfd.clone()))
    .bind(col(|d| d.rncp.clone()))
    .bind(rows.iter().map(|((d, _), _)| d.retire).collect::<Vec<_>>())
    .bind(rows.iter().map(|((d, _), _)| d.formateur.0.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|((d, _), _)| d.formateur.1.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|((d, _), _)| serde_json::json!(d.anciennes)).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, position)| *position).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(personnes)
}

#[derive(sqlx::FromRow)]
struct DossierRow {
    dossier_id: String,
    personne: String,
    parcours: Json<Vec<ChangePoint>>,
    date_de_naissance: chrono::NaiveDate,
    code_commune_insee: Option<String>,
    code_postal: Option<String>,
    cfd: Option<String>,
    rncp: Option<String>,
    retire: bool,
    uai_formateur: String,
    siret_formateur: String,
    anciennes: Vec<String>,
}

/// Recompute the enrolments of `concerned` (with the position of the last event about each, the persons
/// whose dossiers were known under one of them before included) and write them: the former ones
/// inactive, stamped, then the current ones with the sectors of their formation.
pub(super) async fn write_entrees(
    tx: &mut PgConnection,
    concerned: &BTreeMap<String, i64>,
) -> Result<(), ProjectionError> {
    let mut concerned = concerned.clone();
    for (heir, position) in crate::fold::heirs(tx, "rm_ft_dossiers", &concerned).await? {
        let at = concerned.entry(heir).or_default();
        *at = (*at).max(position);
    }
    let personnes: Vec<String> = concerned.keys().cloned().collect();
    let dossiers: Vec<DossierRow> = sqlx::query_as(
        "SELECT dossier_id, personne, parcours, date_de_naissance, code_commune_insee, code_postal, cfd, rncp, retire,
                uai_formateur, siret_formateur, anciennes
         FROM rm_ft_dossiers WHERE personne = ANY($1) ORDER BY position, dossier_id",
    )
    .bind(&personnes)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_person: HashMap<String, Vec<DossierFt>> = HashMap::new();
    let mut anciennes_of: HashMap<String, BTreeSet<String>> = HashMap::new();
    for d in dossiers {
        anciennes_of.entry(d.personne.clone()).or_default().extend(d.anciennes.iter().cloned());
        by_person.entry(d.personne).or_default().push(DossierFt {
            dossier_id: d.dossier_id,
            parcours: d.parcours.0,
            naissance: d.date_de_naissance,
            code_commune_insee: d.code_commune_insee,
            code_postal: d.code_postal,
            cfd: d.cfd,
            rncp: d.rncp,
            retire: d.retire,
            formateur: (d.uai_formateur, d.siret_formateur),
            anciennes: d.anciennes,
        });
    }
    let positions: Vec<i64> = personnes.iter().map(|p| concerned[p]).collect();
    sqlx::query(
        "UPDATE rm_ft_entrees r SET active = false, position = t.position
         FROM unnest($1::text[], $2::bigint[]) AS t(entree, position) WHERE r.entree = t.entree",
    )
    .bind(&personnes)
    .bind(&positions)
    .execute(&mut *tx)
    .await?;
    let mut lignes = Vec::new();
    for personne in &personnes {
        let anciennes: Vec<String> = anciennes_of.get(personne).into_iter().flatten().cloned().collect();
        for i in by_person.get(personne).map(|d| inscriptions(d)).unwrap_or_default() {
            lignes.push((personne.as_str(), i, concerned[personne], serde_json::json!(anciennes)));
        }
    }
    if lignes.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&super::episodes::Inscription) -> Option<String>| {
        lignes.iter().map(|l| f(&l.1)).collect::<Vec<_>>()
    };
    sqlx::query(
        "INSERT INTO rm_ft_entrees (entree, debut, active, fin, fin_motif, dossier_id, date_de_naissance, region,
                                    departement, code_postal, cfd, rncp, secteurs, uai_formateur, siret_formateur,
                                    anciennes, position)
         SELECT t.e, t.d, true, t.f, t.fm, t.di, t.n, t.re, t.de, t.cp, t.cf, t.rn,
                coalesce((SELECT f.secteurs FROM rm_ft_formations f
                          WHERE f.cfd = t.cf OR (t.cf IS NULL AND f.rncp = t.rn) ORDER BY f.cfd = t.cf DESC LIMIT 1),
                         '{}'),
                t.uf, t.sf, ARRAY(SELECT jsonb_array_elements_text(t.an)), t.po
         FROM unnest($1::text[], $2::date[], $3::date[], $4::text[], $5::text[], $6::date[], $7::text[], $8::text[],
                     $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::jsonb[], $15::bigint[])
              AS t(e, d, f, fm, di, n, re, de, cp, cf, rn, uf, sf, an, po)
         ON CONFLICT (entree, debut) DO UPDATE SET active = true, fin = excluded.fin, fin_motif = excluded.fin_motif,
             dossier_id = excluded.dossier_id, date_de_naissance = excluded.date_de_naissance,
             region = excluded.region, departement = excluded.departement, code_postal = excluded.code_postal,
             cfd = excluded.cfd, rncp = excluded.rncp, secteurs = excluded.secteurs,
             uai_formateur = excluded.uai_formateur, siret_formateur = excluded.siret_formateur,
             anciennes = excluded.anciennes, position = excluded.position",
    )
    .bind(lignes.iter().map(|l| l.0).collect::<Vec<_>>())
    .bind(lignes.iter().map(|l| l.1.debut).collect::<Vec<_>>())
    .bind(lignes.iter().map(|l| l.1.fin.map(|f| f.0)).collect::<Vec<_>>())
    .bind(lignes.iter().map(|l| l.1.fin.map(|f| f.1.as_str())).collect::<Vec<_>>())
    .bind(lignes.iter().map(|l| l.1.dossier_id.as_str()).collect::<Vec<_>>())
    .bind(lignes.iter().map(|l| l.1.naissance).collect::<Vec<_>>())
    .bind(text(|i| i.region.clone()))
    .bind(text(|i| i.departement.clone()))
    .bind(text(|i| i.code_postal.clone()))
    .bind(text(|i| i.cfd.clone()))
    .bind(text(|i| i.rncp.clone()))
    .bind(lignes.iter().map(|l| l.1.formateur.0.as_str()).collect::<Vec<_>>())
    .bind(lignes.iter().map(|l| l.1.formateur.1.as_str()).collect::<Vec<_>>())
    .bind(lignes.iter().map(|l| l.3.clone()).collect::<Vec<_>>())
    .bind(lignes.iter().map(|l| l.2).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
