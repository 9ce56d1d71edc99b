//! The `ruptures` projection: the queue of young people in rupture each Mission Locale calls
//! (domain.md §7), folded from the log like any read model — never a nightly copy of dossiers.
//!
//! A batch (1) records the follow-up actions (advisors' situations, CFAs' requests), (2) refolds the
//! dossiers it touches into what the queue needs of them (`rm_rupture_dossiers`), then (3) recomputes
//! the entry of every person concerned from all their dossiers and actions (`entree`), places it in the
//! Mission Locale of the residence, and stamps it with the position of the last event about the person
//! (what the live subscription follows). A Mission Locale's event is applied at its place in the log
//! and places again the entries its territory may move. The read model is the same whatever the
//! batches (a rebuild gives the live checksum).
//!
//! What depends on the day (visible or not, prioritaire, "nouveau contrat", the lists) is decided when
//! queried (`query`), from the dates the entry keeps.

pub mod entree;
pub mod query;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use events::RecordedEvent;
use events::domain::{communes, territoire};
use events::dossier::Dossier;
use events::envelope::category_of;
use events::mission_locale::{MISSION_LOCALE_ENREGISTREE, MissionLocale};
use events::personal::Vault;
use events::personne::PersonneEffacee;
use events::rupture::{RuptureEvent, personne_of};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::fold::Touched;
use crate::runtime::{ProjectionError, Projector};
use crate::status::{ChangePoint, Faits, RuleSet};
use entree::{DossierFaits, Entree};

pub struct RupturesProjection {
    pub rules: RuleSet,
    /// Opens the personal data of the events it reads from the log itself.
    pub vault: Option<Vault>,
}

impl Default for RupturesProjection {
    fn default() -> Self {
        RupturesProjection { rules: RuleSet::CURRENT, vault: None }
    }
}

impl RupturesProjection {
    pub fn with_vault(mut self, vault: Option<Vault>) -> Self {
        self.vault = vault;
        self
    }
}

impl Projector for RupturesProjection {
    fn name(&self) -> &'static str {
        "ruptures"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "rm_missions_locales",
            "rm_ml_communes",
            "rm_rupture_dossiers",
            "rm_ruptures",
            "rm_rupture_actions",
            "rm_ruptures_quarantaine",
        ]
    }

    fn reads(&self, category: &str) -> bool {
        matches!(category, "dossier" | "rupture" | "mission_locale" | "personne")
    }

    fn quarantaine(&self) -> &'static str {
        "rm_ruptures_quarantaine"
    }

    /// The episodes no longer in the log's story (inactive) are kept for the live subscription to see
    /// them go; which ones exist depends on the batches the log was read in (an episode moved by a
    /// later event of the same batch never existed), so the checksum reads the active ones.
    fn checksum_rows(&self, table: &str, qualified: &str) -> String {
        let active = if table == "rm_ruptures" { "WHERE t.active " } else { "" };
        format!("SELECT t::text FROM {qualified} t {active}ORDER BY 1")
    }

    /// Missions Locales are applied at their place in the log (the events before one are projected
    /// under the territories before it), so that any batching gives the same read model.
    async fn apply(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut start = 0;
        for (i, event) in events.iter().enumerate() {
            if event.event_type == MISSION_LOCALE_ENREGISTREE {
                self.apply_segment(tx, &events[start..i]).await?;
                let territory = write_mission_locale(tx, event).await?;
                replace(tx, &territory, event.position).await?;
                start = i + 1;
            }
        }
        self.apply_segment(tx, &events[start..]).await
    }
}

impl RupturesProjection {
    /// Apply events that hold no Mission Locale: the actions, the dossiers, then the entries of every
    /// person concerned, each stamped with the position of the last event about them.
    async fn apply_segment(
        &self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut personnes = write_actions(tx, events).await?;
        let also = erase(tx, events, &mut personnes).await?;
        let touched = Touched::of(tx, self.vault.as_ref(), events, "dossier", &also).await?;
        if !touched.is_empty() {
            let mut rows = Vec::new();
            for (stream, events) in touched.streams() {
                let last = events.last().map_or(0, |e| e.position);
                let dossier = Dossier::from_recorded(events.iter().copied())
                    .map_err(|e| ProjectionError::Event { position: last, message: e.to_string() })?;
                if let Some(row) = self.faits(stream, &dossier) {
                    rows.push((row, last));
                }
            }
            for (personne, position) in write_dossiers(tx, &rows).await? {
                let at = personnes.entry(personne).or_default();
                *at = (*at).max(position);
            }
        }
        if !personnes.is_empty() {
            write_entrees(tx, &personnes).await?;
        }
        Ok(())
    }

    /// What the queue needs of a dossier (none before its inscription is known).
    fn faits(&self, stream: &str, dossier: &Dossier) -> Option<(DossierFaits, String)> {
        let i = dossier.inscription.as_ref()?;
        let parcours = Faits::of(dossier).map(|faits| self.rules.parcours(&faits)).unwrap_or_default();
        let c = &i.personnel.coordonnees;
        let faits = DossierFaits {
            dossier_id: stream.to_owned(),
            parcours,
            naissance: i.personnel.date_de_naissance,
            rqth: i.apprenant.rqth.unwrap_or(false),
            code_commune_insee: c.code_commune_insee.as_ref().map(ToString::to_string),
            code_postal: c.code_postal.as_ref().map(ToString::to_string),
            retire: dossier.retrait.is_some(),
            formateur: (i.formateur.uai.to_string(), i.formateur.siret.to_string()),
            responsable: (i.responsable.uai.to_string(), i.responsable.siret.to_string()),
            anciennes: dossier.personnes_anterieures.clone(),
        };
        Some((faits, i.personne.identite.clone()))
    }
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

/// Record a Mission Locale and its territory (a commune named by a later Mission Locale is its); the
/// communes whose Mission Locale may have changed (its former territory and its new one).
async fn write_mission_locale(
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
async fn write_actions(
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
        RuptureEvent::SuiviConjoint(_) => None,
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

/// Forget what the actions of erased persons said of them (as their events now read), and name the
/// dossiers to fold again; each erased person's entry is written again at the erasure's position.
async fn erase(
    tx: &mut PgConnection,
    events: &[RecordedEvent],
    personnes: &mut BTreeMap<String, i64>,
) -> Result<Vec<String>, ProjectionError> {
    let erased: Vec<(String, i64)> = events
        .iter()
        .filter_map(|e| PersonneEffacee::decode(e).map(|p| (p, e.position)))
        .flat_map(|(p, position)| p.cles().map(|k| (k.clone(), position)).collect::<Vec<_>>())
        .collect();
    if erased.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = erased.iter().map(|(k, _)| k.clone()).collect();
    sqlx::query!(
        "UPDATE rm_rupture_actions SET data = data - 'commentaire' - 'situation_autre' - 'telephone_verifie'
         WHERE entree = ANY($1)",
        &keys
    )
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
async fn write_dossiers(
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
                                          siret_responsable, position)
         SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::date[], $5::boolean[], $6::text[], $7::text[],
                              $8::boolean[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[])
         ON CONFLICT (dossier_id) DO UPDATE SET personne = excluded.personne, parcours = excluded.parcours,
             date_de_naissance = excluded.date_de_naissance, rqth = excluded.rqth,
             code_commune_insee = excluded.code_commune_insee, code_postal = excluded.code_postal,
             retire = excluded.retire, uai_formateur = excluded.uai_formateur,
             siret_formateur = excluded.siret_formateur, uai_responsable = excluded.uai_responsable,
             siret_responsable = excluded.siret_responsable, position = excluded.position",
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
    Ok(personnes)
}

/// A person's action, as the entry reads it.
#[derive(sqlx::FromRow)]
struct Action {
    entree: String,
    position: i64,
    event_type: String,
    recorded_at: chrono::DateTime<chrono::Utc>,
    date_rupture: chrono::NaiveDate,
    data: serde_json::Value,
}

/// A dossier as the queue keeps it.
#[derive(sqlx::FromRow)]
struct DossierRow {
    dossier_id: String,
    personne: String,
    parcours: Json<Vec<ChangePoint>>,
    date_de_naissance: chrono::NaiveDate,
    rqth: bool,
    code_commune_insee: Option<String>,
    code_postal: Option<String>,
    retire: bool,
    uai_formateur: String,
    siret_formateur: String,
    uai_responsable: String,
    siret_responsable: String,
    anciennes: Vec<String>,
}

/// An episode as written.
struct EpisodeRow {
    entree: String,
    e: Entree,
    ml_id: Option<String>,
    situation: Option<events::rupture::SituationRenseignee>,
    qualifiee_le: Option<chrono::DateTime<chrono::Utc>>,
    suivi_conjoint: bool,
    /// The keys the person's dossiers had before, whose actions are the person's.
    anciennes: Vec<String>,
    position: i64,
}

/// The persons whose dossiers were known under these keys before an identity correction (their entries
/// read the actions recorded under them), each with the position of the latest of those keys.
async fn heirs(
    tx: &mut PgConnection,
    concerned: &BTreeMap<String, i64>,
) -> Result<BTreeMap<String, i64>, ProjectionError> {
    let keys: Vec<&String> = concerned.keys().collect();
    let rows: Vec<(String, Vec<String>)> =
        sqlx::query_as("SELECT personne, anciennes FROM rm_rupture_dossiers WHERE anciennes && $1::text[]")
            .bind(&keys)
            .fetch_all(&mut *tx)
            .await?;
    let mut heirs = BTreeMap::new();
    for (personne, anciennes) in rows {
        let at = anciennes.iter().filter_map(|a| concerned.get(a)).copied().max().unwrap_or_default();
        let known: &mut i64 = heirs.entry(personne).or_default();
        *known = (*known).max(at);
    }
    Ok(heirs)
}

/// Recompute the entries of `personnes` (with the position of the last event about each), and of
/// those whose dossiers were known under one of them before, and write them.
async fn write_entrees(
    tx: &mut PgConnection,
    concerned: &BTreeMap<String, i64>,
) -> Result<(), ProjectionError> {
    let mut concerned = concerned.clone();
    for (heir, position) in heirs(tx, &concerned).await? {
        let at = concerned.entry(heir).or_default();
        *at = (*at).max(position);
    }
    let concerned = &concerned;
    let personnes: Vec<String> = concerned.keys().cloned().collect();
    let personnes = personnes.as_slice();
    let dossiers: Vec<DossierRow> = sqlx::query_as(
        "SELECT dossier_id, personne, parcours, date_de_naissance, rqth, code_commune_insee, code_postal, retire,
                uai_formateur, siret_formateur, uai_responsable, siret_responsable, anciennes
         FROM rm_rupture_dossiers WHERE personne = ANY($1) ORDER BY position, dossier_id",
    )
    .bind(personnes)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_person: HashMap<String, Vec<DossierFaits>> = HashMap::new();
    let mut anciennes_of: HashMap<String, BTreeSet<String>> = HashMap::new();
    for d in dossiers {
        anciennes_of.entry(d.personne.clone()).or_default().extend(d.anciennes.iter().cloned());
        by_person.entry(d.personne).or_default().push(DossierFaits {
            dossier_id: d.dossier_id,
            parcours: d.parcours.0,
            naissance: d.date_de_naissance,
            rqth: d.rqth,
            code_commune_insee: d.code_commune_insee,
            code_postal: d.code_postal,
            retire: d.retire,
            formateur: (d.uai_formateur, d.siret_formateur),
            responsable: (d.uai_responsable, d.siret_responsable),
            anciennes: d.anciennes,
        });
    }
    let keys: Vec<&String> = personnes.iter().chain(anciennes_of.values().flatten()).collect();
    let actions: Vec<Action> = sqlx::query_as(
        "SELECT entree, position, event_type, recorded_at, date_rupture, data FROM rm_rupture_actions
         WHERE entree = ANY($1) ORDER BY position",
    )
    .bind(&keys)
    .fetch_all(&mut *tx)
    .await?;
    let mut actions_of: HashMap<&str, Vec<&Action>> = HashMap::new();
    for a in &actions {
        actions_of.entry(a.entree.as_str()).or_default().push(a);
    }
    let mut lignes: Vec<EpisodeRow> = Vec::new();
    for personne in personnes {
        let episodes = by_person.get(personne).map(|d| entree::episodes(d)).unwrap_or_default();
        let anciennes = anciennes_of.get(personne);
        let first = lignes.len();
        lignes.extend(episodes.into_iter().map(|e| EpisodeRow {
            entree: personne.clone(),
            e,
            ml_id: None,
            situation: None,
            qualifiee_le: None,
            suivi_conjoint: false,
            anciennes: anciennes.into_iter().flatten().cloned().collect(),
            position: concerned[personne],
        }));
        let episodes = &mut lignes[first..];
        // The person's actions, and those recorded under the keys their dossiers had before, in log
        // order.
        let mut own: Vec<&Action> = std::iter::once(personne)
            .chain(anciennes.into_iter().flatten())
            .flat_map(|k| actions_of.get(k.as_str()).into_iter().flatten().copied())
            .collect();
        own.sort_by_key(|a| a.position);
        // Each action is about the episode of the contract whose rupture it looked at: the latest
        // episode whose contract began by then.
        for a in own {
            let Some(ligne) = episodes.iter_mut().rev().find(|l| l.e.contrat_debut <= a.date_rupture) else {
                continue;
            };
            match RuptureEvent::decode(&a.event_type, &a.data) {
                Ok(Some(RuptureEvent::Situation(s))) => {
                    ligne.situation = Some(s);
                    ligne.qualifiee_le = Some(a.recorded_at);
                }
                Ok(Some(RuptureEvent::SuiviConjoint(_))) => ligne.suivi_conjoint = true,
                Ok(None) => {}
                Err(error) => {
                    return Err(ProjectionError::ReadModel {
                        table: "rm_rupture_actions",
                        message: error.to_string(),
                    });
                }
            }
        }
    }
    // Episodes no longer in the log's story stay, inactive, stamped (their Mission Locale sees them go).
    let positions: Vec<i64> = personnes.iter().map(|p| concerned[p]).collect();
    sqlx::query(
        "UPDATE rm_ruptures r SET active = false, anciennes = '{}', position = t.position
         FROM unnest($1::text[], $2::bigint[]) AS t(entree, position) WHERE r.entree = t.entree",
    )
    .bind(personnes)
    .bind(&positions)
    .execute(&mut *tx)
    .await?;
    let places = placements(
        tx,
        &lignes
            .iter()
            .map(|l| (l.e.code_commune_insee.as_deref(), l.e.code_postal.as_deref()))
            .collect::<Vec<_>>(),
    )
    .await?;
    for (ligne, ml) in lignes.iter_mut().zip(places) {
        ligne.ml_id = ml;
    }
    upsert(tx, &lignes).await?;
    let heritees: Vec<(&str, serde_json::Value)> = lignes
        .iter()
        .filter(|l| !l.anciennes.is_empty())
        .map(|l| (l.entree.as_str(), serde_json::json!(l.anciennes)))
        .collect();
    if !heritees.is_empty() {
        sqlx::query(
            "UPDATE rm_ruptures r SET anciennes = ARRAY(SELECT jsonb_array_elements_text(t.anciennes))
             FROM unnest($1::text[], $2::jsonb[]) AS t(entree, anciennes) WHERE r.entree = t.entree AND r.active",
        )
        .bind(heritees.iter().map(|(e, _)| *e).collect::<Vec<_>>())
        .bind(heritees.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The Mission Locale of each residence, from the projection's territories.
async fn placements(
    tx: &mut PgConnection,
    residences: &[(Option<&str>, Option<&str>)],
) -> Result<Vec<Option<String>>, ProjectionError> {
    let candidates: Vec<Vec<String>> = residences.iter().map(|(i, c)| communes::candidats(*i, *c)).collect();
    let all: Vec<String> =
        candidates.iter().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let owners: HashMap<String, String> =
        sqlx::query!("SELECT commune, ml_id FROM rm_ml_communes WHERE commune = ANY($1)", &all)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| (r.commune, r.ml_id))
            .collect();
    Ok(candidates.iter().map(|c| c.iter().find_map(|commune| owners.get(commune).cloned())).collect())
}

/// Write the entries.
async fn upsert(tx: &mut PgConnection, lignes: &[EpisodeRow]) -> Result<(), ProjectionError> {
    if lignes.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&EpisodeRow) -> String| lignes.iter().map(f).collect::<Vec<_>>();
    let opt = |f: fn(&EpisodeRow) -> Option<String>| lignes.iter().map(f).collect::<Vec<_>>();
    sqlx::query!(
        "INSERT INTO rm_ruptures (entree, active, ml_id, dossier_id, date_rupture, contrat_debut, sortie, sortie_motif,
                                  date_de_naissance, rqth, code_commune_insee, code_postal, uai_formateur,
                                  siret_formateur, uai_responsable, siret_responsable, situation, situation_autre,
                                  commentaire, connaissance, qualifiee_le, suivi_conjoint, position)
         SELECT e, true, ml, d, dr, cd, so, sm, dn, rq, ci, cp, uf, sf, ur, sr, si, sa, co, cn, ql, sc, po
         FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::date[], $6::date[], $7::text[], $8::date[],
                     $9::boolean[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                     $16::text[], $17::text[], $18::text[], $19::text[], $20::timestamptz[], $21::boolean[],
                     $22::bigint[])
              AS t(e, ml, d, dr, cd, so, sm, dn, rq, ci, cp, uf, sf, ur, sr, si, sa, co, cn, ql, sc, po)
         ON CONFLICT (entree, date_rupture) DO UPDATE SET active = true, ml_id = excluded.ml_id,
             dossier_id = excluded.dossier_id, contrat_debut = excluded.contrat_debut, sortie = excluded.sortie,
             sortie_motif = excluded.sortie_motif, date_de_naissance = excluded.date_de_naissance,
             rqth = excluded.rqth, code_commune_insee = excluded.code_commune_insee,
             code_postal = excluded.code_postal, uai_formateur = excluded.uai_formateur,
             siret_formateur = excluded.siret_formateur, uai_responsable = excluded.uai_responsable,
             siret_responsable = excluded.siret_responsable, situation = excluded.situation,
             situation_autre = excluded.situation_autre, commentaire = excluded.commentaire,
             connaissance = excluded.connaissance, qualifiee_le = excluded.qualifiee_le,
             suivi_conjoint = excluded.suivi_conjoint, position = excluded.position",
        &col(|l| l.entree.clone()),
        &opt(|l| l.ml_id.clone()) as &[Option<String>],
        &col(|l| l.e.dossier_id.clone()),
        &lignes.iter().map(|l| l.e.date_rupture).collect::<Vec<_>>(),
        &lignes.iter().map(|l| l.e.contrat_debut).collect::<Vec<_>>(),
        &lignes.iter().map(|l| l.e.sortie.map(|s| s.0)).collect::<Vec<_>>() as &[Option<chrono::NaiveDate>],
        &opt(|l| l.e.sortie.map(|s| s.1.as_str().to_owned())) as &[Option<String>],
        &lignes.iter().map(|l| l.e.naissance).collect::<Vec<_>>(),
        &lignes.iter().map(|l| l.e.rqth).collect::<Vec<_>>(),
        &opt(|l| l.e.code_commune_insee.clone()) as &[Option<String>],
        &opt(|l| l.e.code_postal.clone()) as &[Option<String>],
        &col(|l| l.e.formateur.0.clone()),
        &col(|l| l.e.formateur.1.clone()),
        &col(|l| l.e.responsable.0.clone()),
        &col(|l| l.e.responsable.1.clone()),
        &opt(|l| l.situation.as_ref().map(|s| s.situation.as_str().to_owned())) as &[Option<String>],
        &opt(|l| l.situation.as_ref().and_then(|s| s.situation_autre.clone())) as &[Option<String>],
        &opt(|l| l.situation.as_ref().and_then(|s| s.commentaire.clone())) as &[Option<String>],
        &opt(|l| l.situation.as_ref().and_then(|s| s.connaissance).map(|c| c.as_str().to_owned()))
            as &[Option<String>],
        &lignes.iter().map(|l| l.qualifiee_le).collect::<Vec<_>>() as &[Option<chrono::DateTime<chrono::Utc>>],
        &lignes.iter().map(|l| l.suivi_conjoint).collect::<Vec<_>>(),
        &lignes.iter().map(|l| l.position).collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Place again the entries a change of these communes' Mission Locale (at `position`) may move,
/// stamping those it moved.
async fn replace(
    tx: &mut PgConnection,
    territory: &BTreeSet<String>,
    position: i64,
) -> Result<(), ProjectionError> {
    let (codes, postaux) = communes::residences_de(territory);
    let rows = sqlx::query!(
        "SELECT entree, date_rupture, ml_id, code_commune_insee, code_postal FROM rm_ruptures
         WHERE code_commune_insee = ANY($1) OR code_postal = ANY($2) ORDER BY entree, date_rupture",
        &codes,
        &postaux,
    )
    .fetch_all(&mut *tx)
    .await?;
    let places = placements(
        tx,
        &rows.iter().map(|r| (r.code_commune_insee.as_deref(), r.code_postal.as_deref())).collect::<Vec<_>>(),
    )
    .await?;
    let moved: Vec<_> = rows.into_iter().zip(places).filter(|(r, place)| r.ml_id != *place).collect();
    sqlx::query!(
        "UPDATE rm_ruptures r SET ml_id = t.ml, position = $4
         FROM unnest($1::text[], $2::date[], $3::text[]) AS t(entree, date_rupture, ml)
         WHERE (r.entree, r.date_rupture) = (t.entree, t.date_rupture)",
        &moved.iter().map(|(r, _)| r.entree.clone()).collect::<Vec<_>>(),
        &moved.iter().map(|(r, _)| r.date_rupture).collect::<Vec<_>>(),
        &moved.iter().map(|(_, place)| place.clone()).collect::<Vec<_>>() as &[Option<String>],
        position,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
