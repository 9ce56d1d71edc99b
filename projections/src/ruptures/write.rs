//! What a batch writes besides the entries: the Missions Locales, the actions, the dossiers as the
//! queue keeps them, and the erasure of a person's data.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use events::RecordedEvent;
use events::collaboration::CollaborationReglee;
use events::domain::{communes, territoire};
use events::envelope::category_of;
use events::fil::FilEvent;
use events::mission_locale::{MissionLocale, MissionLocaleActivee};
use events::personne::PersonneEffacee;
use events::rupture::{RuptureEvent, personne_of};
use sqlx::PgConnection;
use sqlx::types::Json;

use super::entree::DossierFaits;
use crate::runtime::ProjectionError;
use crate::status::ChangePoint;

/// Record a Mission Locale and its territory (a commune named by a later Mission Locale is its); the
/// communes whose Mission Locale may have changed (its former territory and its new one).
pub(super) async fn write_mission_locale(
    tx: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<BTreeSet<String>, ProjectionError> {
    let ml: MissionLocale = serde_json::from_value(event.data.clone())
        .map_err(|err| ProjectionError::Event { position: event.position, message: err.to_string() })?;
    let mut changed: BTreeSet<String> =
        sqlx::query_scalar!("SELECT commune FROM rm_ml_communes WHERE ml_id = $1", ml.id)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    changed.extend(ml.communes.iter().cloned());
    sqlx::query!(
        "INSERT INTO rm_missions_locales (id, nom, siret, email, telephone, region, position)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET nom = excluded.nom, siret = excluded.siret, email = excluded.email,
             telephone = excluded.telephone, region = excluded.region, position = excluded.position",
        ml.id,
        ml.nom,
        ml.siret.as_str(),
        ml.email.as_ref().map(ToString::to_string),
        ml.telephone.as_ref().map(ToString::to_string),
        region_of(&ml.communes),
        event.position,
    )
    .execute(&mut *tx)
    .await?;
    let communes: Vec<String> = ml.communes.iter().cloned().collect();
    sqlx::query!("DELETE FROM rm_ml_communes WHERE ml_id = $1", ml.id).execute(&mut *tx).await?;
    sqlx::query!(
        "INSERT INTO rm_ml_communes (commune, ml_id) SELECT unnest($1::text[]), $2
         ON CONFLICT (commune) DO UPDATE SET ml_id = excluded.ml_id",
        &communes,
        ml.id,
    )
    .execute(&mut *tx)
    .await?;
    Ok(changed)
}

/// Record the batch's follow-up actions; the persons they are about, with the position of the last.
pub(super) async fn write_actions(
    tx: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<BTreeMap<String, i64>, ProjectionError> {
    let mut personnes = BTreeMap::new();
    let mut rows: Vec<(&RecordedEvent, &str, RuptureEvent)> = Vec::new();
    for e in events.iter().filter(|e| category_of(&e.stream_id) == "rupture") {
        let invalid = |message: String| ProjectionError::Event { position: e.position, message };
        let personne = personne_of(&e.stream_id).ok_or_else(|| invalid("not a follow-up stream".into()))?;
        let Some(action) =
            RuptureEvent::decode(&e.event_type, &e.data).map_err(|err| invalid(err.to_string()))?
        else {
            continue;
        };
        personnes.insert(personne.to_owned(), e.position);
        rows.push((e, personne, action));
    }
    if rows.is_empty() {
        return Ok(personnes);
    }
    let situation = |a: &RuptureEvent| match a {
        RuptureEvent::Situation(s) => Some(s.situation.as_str().to_owned()),
        RuptureEvent::SuiviConjoint(_) | RuptureEvent::PartageRefuse(_) => None,
    };
    sqlx::query!(
        "INSERT INTO rm_rupture_actions (position, entree, event_type, recorded_at, organisation, principal,
                                         date_rupture, situation, data)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
                              $7::date[], $8::text[], $9::jsonb[])",
        &rows.iter().map(|r| r.0.position).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.1.to_owned()).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.0.event_type.clone()).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.0.recorded_at).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.0.metadata.actor.organisation.clone()).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.0.metadata.actor.principal.clone()).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.2.date_rupture()).collect::<Vec<_>>(),
        &rows.iter().map(|r| situation(&r.2)).collect::<Vec<_>>() as &[Option<String>],
        &rows.iter().map(|r| r.0.data.clone()).collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(personnes)
}

/// Record a CFA's collaboration settings, and stamp the entries of its dossiers with the event's
/// position: what their Missions Locales see of them may change (the live subscription follows).
pub(super) async fn write_collaboration(
    tx: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let reglee: CollaborationReglee = serde_json::from_value(event.data.clone())
        .map_err(|e| ProjectionError::Event { position: event.position, message: e.to_string() })?;
    let (uai, siret) = (reglee.organisme.uai.as_str(), reglee.organisme.siret.as_str());
    sqlx::query(
        "INSERT INTO rm_collaborations (position, uai, siret, recorded_at, active, envoi_auto)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.position)
    .bind(uai)
    .bind(siret)
    .bind(event.recorded_at)
    .bind(reglee.active)
    .bind(reglee.envoi_auto_45_jours)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE rm_ruptures SET position = greatest(position, $3)
         WHERE active AND uai_formateur = $1 AND siret_formateur = $2",
    )
    .bind(uai)
    .bind(siret)
    .bind(event.position)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Record a Mission Locale's activation, and stamp the entries of its queue with the event's position:
/// what it sees of them may change (the live subscription follows).
pub(super) async fn write_activation(
    tx: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let activee: MissionLocaleActivee = serde_json::from_value(event.data.clone())
        .map_err(|e| ProjectionError::Event { position: event.position, message: e.to_string() })?;
    sqlx::query("INSERT INTO rm_ml_activations (position, ml_id, recorded_at, le) VALUES ($1, $2, $3, $4)")
        .bind(event.position)
        .bind(&activee.id)
        .bind(event.recorded_at)
        .bind(activee.le)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE rm_ruptures SET position = greatest(position, $2) WHERE active AND ml_id = $1")
        .bind(&activee.id)
        .bind(event.position)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Record the batch's messages and reads of the thread; the persons they are about, with the position
/// of the last (so that their entries are stamped, and the live subscription sends them again).
pub(super) async fn write_fil(
    tx: &mut PgConnection,
    events: &[RecordedEvent],
) -> Result<BTreeMap<String, i64>, ProjectionError> {
    let mut personnes = BTreeMap::new();
    let (mut messages, mut lus) = (Vec::new(), Vec::new());
    for e in events.iter().filter(|e| category_of(&e.stream_id) == "rupture") {
        let invalid = |message: String| ProjectionError::Event { position: e.position, message };
        let Some(event) = FilEvent::decode(&e.event_type, &e.data).map_err(|err| invalid(err.to_string()))?
        else {
            continue;
        };
        let personne = personne_of(&e.stream_id).ok_or_else(|| invalid("not a follow-up stream".into()))?;
        personnes.insert(personne.to_owned(), e.position);
        match event {
            FilEvent::Message(m) => messages.push((e, personne, m)),
            FilEvent::Lus(l) => lus.push((personne, l)),
        }
    }
    if !messages.is_empty() {
        sqlx::query(
            "INSERT INTO rm_rupture_messages (position, entree, recorded_at, cote, organisation, principal, texte)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],
                                  $7::text[])",
        )
        .bind(messages.iter().map(|m| m.0.position).collect::<Vec<_>>())
        .bind(messages.iter().map(|m| m.1).collect::<Vec<_>>())
        .bind(messages.iter().map(|m| m.0.recorded_at).collect::<Vec<_>>())
        .bind(messages.iter().map(|m| m.2.cote.as_str()).collect::<Vec<_>>())
        .bind(messages.iter().map(|m| m.0.metadata.actor.organisation.as_str()).collect::<Vec<_>>())
        .bind(messages.iter().map(|m| m.0.metadata.actor.principal.as_str()).collect::<Vec<_>>())
        .bind(messages.iter().map(|m| m.2.texte.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    // How far each side read each thread in the batch, then one statement for them all.
    let mut plus_loin: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for (personne, l) in &lus {
        let at = plus_loin.entry((personne, l.cote.as_str())).or_default();
        *at = (*at).max(l.jusqu_a);
    }
    if !plus_loin.is_empty() {
        sqlx::query(
            "INSERT INTO rm_rupture_lus (entree, cote, position)
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
             ON CONFLICT (entree, cote) DO UPDATE SET position = greatest(rm_rupture_lus.position, excluded.position)",
        )
        .bind(plus_loin.keys().map(|k| k.0).collect::<Vec<_>>())
        .bind(plus_loin.keys().map(|k| k.1).collect::<Vec<_>>())
        .bind(plus_loin.values().copied().collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(personnes)
}

/// Forget what the actions of erased persons said of them (as their events now read), and name the
/// dossiers to fold again; each erased person's entry is written again at the erasure's position.
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
    sqlx::query!(
        "UPDATE rm_rupture_actions
         SET data = data - 'commentaire' - 'situation_autre' - 'probleme_detail' - 'telephone_verifie'
                         - 'commentaires_motifs' - 'cause_rupture' - 'referent' - 'email_verifie'
                         - 'adresse_verifiee' - 'motif'
         WHERE entree = ANY($1)",
        &keys
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE rm_rupture_messages SET texte = NULL WHERE entree = ANY($1)")
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
    for (k, position) in erased {
        let at = personnes.entry(k).or_default();
        *at = (*at).max(position);
    }
    Ok(sqlx::query_scalar!("SELECT dossier_id FROM rm_rupture_dossiers WHERE personne = ANY($1)", &keys)
        .fetch_all(&mut *tx)
        .await?)
}

/// Upsert the refolded dossiers; the persons concerned (a dossier's former person too, when its
/// identity was corrected), each with the position of the dossier's last event.
pub(super) async fn write_dossiers(
    tx: &mut PgConnection,
    rows: &[((DossierFaits, String), i64)],
) -> Result<Vec<(String, i64)>, ProjectionError> {
    let ids: Vec<String> = rows.iter().map(|((f, _), _)| f.dossier_id.clone()).collect();
    let last: HashMap<&str, i64> = rows.iter().map(|((f, _), p)| (f.dossier_id.as_str(), *p)).collect();
    let known: Vec<(String, String, Vec<String>)> = sqlx::query_as(
        "SELECT dossier_id, personne, anciennes FROM rm_rupture_dossiers WHERE dossier_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let anciennes_connues: HashMap<&str, &Vec<String>> =
        known.iter().map(|(id, _, anciennes)| (id.as_str(), anciennes)).collect();
    // The keys a dossier had before are written apart: they change only with its identity.
    let moved: Vec<(&str, serde_json::Value)> = rows
        .iter()
        .map(|((d, _), _)| (d.dossier_id.as_str(), &d.anciennes))
        .filter(|(id, anciennes)| {
            anciennes_connues.get(id).map_or(!anciennes.is_empty(), |known| known != anciennes)
        })
        .map(|(id, anciennes)| (id, serde_json::json!(anciennes)))
        .collect();
    let mut personnes: Vec<(String, i64)> = known
        .iter()
        .map(|(id, personne, _)| (personne.clone(), last.get(id.as_str()).copied().unwrap_or_default()))
        .collect();
    personnes.extend(rows.iter().map(|((_, p), position)| (p.clone(), *position)));
    let text =
        |f: fn(&DossierFaits) -> &str| rows.iter().map(|((d, _), _)| f(d).to_owned()).collect::<Vec<_>>();
    let optional = |f: fn(&DossierFaits) -> &Option<String>| {
        rows.iter().map(|((d, _), _)| f(d).clone()).collect::<Vec<_>>()
    };
    sqlx::query!(
        "INSERT INTO rm_rupture_dossiers (dossier_id, personne, parcours, date_de_naissance, rqth, code_commune_insee,
                                          code_postal, retire, uai_formateur, siret_formateur, uai_responsable,
                                          siret_responsable, position, deca)
         SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::date[], $5::boolean[], $6::text[], $7::text[],
                              $8::boolean[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[],
                              $14::boolean[])
         ON CONFLICT (dossier_id) DO UPDATE SET personne = excluded.personne, parcours = excluded.parcours,
             date_de_naissance = excluded.date_de_naissance, rqth = excluded.rqth,
             code_commune_insee = excluded.code_commune_insee, code_postal = excluded.code_postal,
             retire = excluded.retire, uai_formateur = excluded.uai_formateur,
             siret_formateur = excluded.siret_formateur, uai_responsable = excluded.uai_responsable,
             siret_responsable = excluded.siret_responsable, position = excluded.position, deca = excluded.deca",
        &ids,
        &rows.iter().map(|((_, p), _)| p.clone()).collect::<Vec<_>>(),
        &rows
            .iter()
            .map(|((d, _), _)| serde_json::to_value(&d.parcours).expect("change points serialise"))
            .collect::<Vec<_>>(),
        &rows.iter().map(|((d, _), _)| d.naissance).collect::<Vec<_>>(),
        &rows.iter().map(|((d, _), _)| d.rqth).collect::<Vec<_>>(),
        &optional(|d| &d.code_commune_insee) as &[Option<String>],
        &optional(|d| &d.code_postal) as &[Option<String>],
        &rows.iter().map(|((d, _), _)| d.retire).collect::<Vec<_>>(),
        &text(|d| &d.formateur.0),
        &text(|d| &d.formateur.1),
        &text(|d| &d.responsable.0),
        &text(|d| &d.responsable.1),
        &rows.iter().map(|(_, position)| *position).collect::<Vec<_>>(),
        &rows.iter().map(|((d, _), _)| d.deca).collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    if !moved.is_empty() {
        sqlx::query(
            "UPDATE rm_rupture_dossiers d SET anciennes = ARRAY(SELECT jsonb_array_elements_text(t.anciennes))
             FROM unnest($1::text[], $2::jsonb[]) AS t(dossier_id, anciennes) WHERE d.dossier_id = t.dossier_id",
        )
        .bind(moved.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(moved.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    // The ruptures the CFA declared: a dossier's only grow (its events are never changed).
    let declarees: Vec<(&str, serde_json::Value)> = rows
        .iter()
        .filter(|((d, _), _)| !d.declarees.is_empty())
        .map(|((d, _), _)| (d.dossier_id.as_str(), serde_json::json!(d.declarees)))
        .collect();
    if !declarees.is_empty() {
        sqlx::query(
            "UPDATE rm_rupture_dossiers d
             SET declarees = ARRAY(SELECT jsonb_array_elements_text(t.declarees)::date)
             FROM unnest($1::text[], $2::jsonb[]) AS t(dossier_id, declarees) WHERE d.dossier_id = t.dossier_id",
        )
        .bind(declarees.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(declarees.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(personnes)
}

/// A person's action, as the entry reads it.
#[derive(sqlx::FromRow)]
pub(super) struct Action {
    pub(super) entree: String,
    pub(super) position: i64,
    pub(super) event_type: String,
    pub(super) recorded_at: chrono::DateTime<chrono::Utc>,
    pub(super) date_rupture: chrono::NaiveDate,
    pub(super) data: serde_json::Value,
}

/// A dossier as the queue keeps it.
#[derive(sqlx::FromRow)]
pub(super) struct DossierRow {
    pub(super) dossier_id: String,
    pub(super) personne: String,
    pub(super) parcours: Json<Vec<ChangePoint>>,
    pub(super) date_de_naissance: chrono::NaiveDate,
    pub(super) rqth: bool,
    pub(super) code_commune_insee: Option<String>,
    pub(super) code_postal: Option<String>,
    pub(super) retire: bool,
    pub(super) uai_formateur: String,
    pub(super) siret_formateur: String,
    pub(super) uai_responsable: String,
    pub(super) siret_responsable: String,
    pub(super) anciennes: Vec<String>,
    pub(super) declarees: Vec<chrono::NaiveDate>,
    pub(super) deca: bool,
}

/// The région most of a territory's communes are in (the first in code order on a tie).
fn region_of(communes_codes: &BTreeSet<String>) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for code in communes_codes {
        if let Some(d) = communes::commune(code).and_then(|c| territoire::departement(&c.departement)) {
            *counts.entry(d.region.clone()).or_default() += 1;
        }
    }
    let best = counts.values().copied().max().unwrap_or(0);
    counts.into_iter().find(|(_, n)| *n == best).map(|(r, _)| r).unwrap_or_default()
}
