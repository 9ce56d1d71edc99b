//! The collaboration's recaps (domain.md §11): produced from the log as messages on each recipient's
//! stream (`events::recapitulatif`), then sent by e-mail when the service has SMTP and the recipient an
//! address (a Mission Locale's from its referential, a CFA's from its collaboration settings); always
//! readable through GraphQL. Periods are fixed: a daily recap ends at the day's hour (`TBA_RECAPS_HEURE`,
//! UTC), a weekly one at Monday's, so any producer, at any time after, writes the same recap once. What
//! a recap says is decided by pure functions of its figures; it never names a young person.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveTime, Timelike, Utc};
use events::collaboration::{COLLABORATION_REGLEE, CollaborationReglee};
use events::recapitulatif::{
    Destinataire, Genre, RECAPITULATIF_ENVOYE, RECAPITULATIF_PRODUIT, RecapitulatifEnvoye,
    RecapitulatifProduit,
};
use events::{Actor, AppendError, Channel, EventStore, ExpectedVersion, Metadata, NewEvent};
use projections::ruptures::query::{self, Compte, Qui};
use projections::ruptures::recapitulatifs::{
    self as chiffres, ActionsMissionsLocales, ParOrganisme, Periode,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::notifier::Smtp;

/// The hour (UTC) daily recaps are produced at, and weekly ones on Mondays.
pub const HEURE: u32 = 6;
/// How old a recap may be and still be sent (an outage longer than that does not flood inboxes).
const ENVOI_MAX_JOURS: i64 = 7;

/// The end of the latest period of each genre begun by `now`: today's `heure` (yesterday's before it)
/// for daily recaps, this Monday's (last Monday's) for weekly ones.
pub fn echeances(now: DateTime<Utc>, heure: u32) -> Vec<(Genre, DateTime<Utc>)> {
    let at = |day: chrono::NaiveDate| {
        day.and_time(NaiveTime::from_hms_opt(heure.min(23), 0, 0).unwrap_or_default())
    };
    let today = at(now.date_naive()).and_utc();
    let daily = if now >= today { today } else { today - Duration::days(1) };
    let monday = today - Duration::days(i64::from(now.weekday().num_days_from_monday()));
    let weekly = if now >= monday { monday } else { monday - Duration::days(7) };
    Genre::ALL.into_iter().map(|g| (g, if g.hebdomadaire() { weekly } else { daily })).collect()
}

/// The period a recap of `genre` ending at `au` looks at.
pub fn du(genre: Genre, au: DateTime<Utc>) -> DateTime<Utc> {
    au - if genre.hebdomadaire() { Duration::days(7) } else { Duration::hours(24) }
}

/// What a recap is written from.
#[derive(Debug, Clone, PartialEq)]
pub enum Contenu {
    /// A Mission Locale's requests unanswered for 24 h, per CFA.
    DemandesEnAttente { ml: String, demandes: Vec<ParOrganisme> },
    /// A Mission Locale's queue at the end of the week, and what happened in it.
    Hebdomadaire { ml: String, file: Compte, semaine: Periode },
    /// What the Missions Locales did on a CFA's entries.
    Actions { cfa: String, actions: ActionsMissionsLocales },
}

fn jour(t: DateTime<Utc>) -> String {
    t.format("%d/%m/%Y").to_string()
}

const PIED: &str = "\n\nCe message ne contient aucune donnée personnelle : retrouvez les jeunes concernés dans tba.\n\
                    Il a été produit par tba à partir du journal des événements.\n";

impl Contenu {
    pub fn genre(&self) -> Genre {
        match self {
            Contenu::DemandesEnAttente { .. } => Genre::DemandesEnAttente,
            Contenu::Hebdomadaire { .. } => Genre::HebdomadaireMissionLocale,
            Contenu::Actions { .. } => Genre::ActionsMissionsLocales,
        }
    }

    /// Whether there is anything to say (a recap with nothing in it is not produced).
    pub fn a_dire(&self) -> bool {
        match self {
            Contenu::DemandesEnAttente { demandes, .. } => demandes.iter().any(|d| d.nombre > 0),
            Contenu::Hebdomadaire { file, semaine, .. } => file.total > 0 || *semaine != Periode::default(),
            Contenu::Actions { actions, .. } => actions.total_situations() > 0 || actions.messages > 0,
        }
    }

    /// The figures, as the event keeps them.
    pub fn chiffres(&self) -> serde_json::Value {
        match self {
            Contenu::DemandesEnAttente { demandes, .. } => serde_json::json!({
                "demandes": demandes.iter().map(|d| d.nombre).sum::<i64>(), "par_organisme": demandes }),
            Contenu::Hebdomadaire { file, semaine, .. } => serde_json::json!({
                "file": { "total": file.total, "a_traiter": file.a_traiter, "a_recontacter": file.a_recontacter,
                          "traites": file.traites, "prioritaires": file.prioritaires },
                "semaine": semaine }),
            Contenu::Actions { actions, .. } => serde_json::json!({
                "situations": actions.total_situations(), "par_situation": actions.situations,
                "messages": actions.messages }),
        }
    }

    /// The subject and the text of the recap of `[du, au)`.
    pub fn redige(&self, du: DateTime<Utc>, au: DateTime<Utc>) -> (String, String) {
        match self {
            Contenu::DemandesEnAttente { ml, demandes } => {
                let n: i64 = demandes.iter().map(|d| d.nombre).sum();
                let lignes: Vec<String> =
                    demandes.iter().map(|d| format!("- {} ({}) : {}", d.nom, d.uai, d.nombre)).collect();
                (
                    format!("tba : {n} demande(s) de suivi conjoint sans réponse depuis plus de 24 h"),
                    format!(
                        "Bonjour,\n\nLe {} à {} UTC, {ml} avait {n} demande(s) de suivi conjoint de CFA sans \
                         réponse depuis plus de 24 heures :\n{}\n\nElles sont dans votre file des ruptures \
                         (collaboration « demandée »).{PIED}",
                        jour(au),
                        au.format("%H:%M"),
                        lignes.join("\n")
                    ),
                )
            }
            Contenu::Hebdomadaire { ml, file, semaine } => (
                format!("tba : la semaine de {ml} du {} au {}", jour(du), jour(au)),
                format!(
                    "Bonjour,\n\nVotre file des ruptures le {} : {} jeune(s), dont {} à traiter, {} à \
                     recontacter, {} traité(s) ; {} prioritaire(s).\n\nDu {} au {} : {} demande(s) de suivi \
                     conjoint reçue(s) des CFA, {} message(s) de CFA, {} situation(s) renseignée(s) par vos \
                     conseillers.{PIED}",
                    jour(au),
                    file.total,
                    file.a_traiter,
                    file.a_recontacter,
                    file.traites,
                    file.prioritaires,
                    jour(du),
                    jour(au),
                    semaine.demandes_recues,
                    semaine.messages_recus,
                    semaine.situations
                ),
            ),
            Contenu::Actions { cfa, actions } => {
                let lignes: Vec<String> =
                    actions.situations.iter().map(|(s, n)| format!("- {s} : {n}")).collect();
                (
                    format!(
                        "tba : les Missions Locales ont renseigné {} situation(s) de vos jeunes en rupture",
                        actions.total_situations()
                    ),
                    format!(
                        "Bonjour,\n\nDu {} {} au {} {} UTC, les Missions Locales ont renseigné {} situation(s) \
                         sur les ruptures de {cfa}{}\net vous ont écrit {} message(s).{PIED}",
                        jour(du),
                        du.format("%H:%M"),
                        jour(au),
                        au.format("%H:%M"),
                        actions.total_situations(),
                        if lignes.is_empty() { String::new() } else { format!(" :\n{}", lignes.join("\n")) },
                        actions.messages
                    ),
                )
            }
        }
    }
}

/// The recap of `contenu` for `destinataire`, ending at `au`, to be sent to `adresse`.
pub fn recapitulatif(
    destinataire: Destinataire,
    contenu: &Contenu,
    au: DateTime<Utc>,
    adresse: Option<String>,
) -> RecapitulatifProduit {
    let genre = contenu.genre();
    let du = du(genre, au);
    let (sujet, texte) = contenu.redige(du, au);
    RecapitulatifProduit { genre, destinataire, du, au, sujet, texte, chiffres: contenu.chiffres(), adresse }
}

fn metadata() -> Metadata {
    Metadata {
        actor: Actor { organisation: "tba".into(), principal: "recapitulatifs".into() },
        channel: Channel::Recapitulatifs.into(),
        ..Metadata::default()
    }
}

/// The end of the latest recap of each genre produced for each recipient stream.
async fn derniers(pool: &PgPool) -> Result<HashMap<(String, Genre), DateTime<Utc>>, sqlx::Error> {
    let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT stream_id, data->>'genre', max((data->>'au')::timestamptz) FROM events
         WHERE category = 'recapitulatif' AND event_type = $1 GROUP BY 1, 2",
    )
    .bind(RECAPITULATIF_PRODUIT)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(|(s, g, au)| Genre::parse(&g).map(|g| ((s, g), au))).collect())
}

/// Produce the recaps due for periods ending at `echeances` that are not produced yet; how many were.
pub async fn produire(
    pool: &PgPool,
    store: &EventStore,
    echeances: &[(Genre, DateTime<Utc>)],
) -> anyhow::Result<usize> {
    let derniers = derniers(pool).await?;
    // Whole seconds: what the log keeps of an instant is compared with what is asked.
    let echeances: Vec<(Genre, DateTime<Utc>)> =
        echeances.iter().map(|&(g, au)| (g, au.with_nanosecond(0).unwrap_or(au))).collect();
    let a_faire = |d: &Destinataire, genre: Genre, au: DateTime<Utc>| {
        derniers.get(&(d.stream_id(), genre)).is_none_or(|dernier| *dernier < au)
    };
    let missions: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, nom, email FROM rm_missions_locales ORDER BY id").fetch_all(pool).await?;
    let mut recaps = Vec::new();
    for &(genre, au) in &echeances {
        let mut conn = pool.acquire().await?;
        match genre {
            Genre::DemandesEnAttente => {
                let mut attente = chiffres::demandes_en_attente(&mut conn, au).await?;
                for (id, nom, email) in &missions {
                    let d = Destinataire::mission_locale(id);
                    let demandes = attente.remove(id).unwrap_or_default();
                    if a_faire(&d, genre, au) {
                        let contenu = Contenu::DemandesEnAttente { ml: nom.clone(), demandes };
                        recaps.push((d, contenu, au, email.clone()));
                    }
                }
            }
            Genre::HebdomadaireMissionLocale => {
                let mut semaines = chiffres::periodes_missions_locales(&mut conn, du(genre, au), au).await?;
                // A Mission Locale without an entry nor anything in its week has nothing to say: its
                // queue is not counted (this runs every ten minutes until each recap is produced).
                let avec_entrees: HashSet<String> = sqlx::query_scalar(
                    "SELECT DISTINCT ml_id FROM rm_ruptures WHERE active AND ml_id IS NOT NULL",
                )
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .collect();
                for (id, nom, email) in &missions {
                    let d = Destinataire::mission_locale(id);
                    if !a_faire(&d, genre, au) || (!avec_entrees.contains(id) && !semaines.contains_key(id)) {
                        continue;
                    }
                    let qui = Qui::MissionLocale(id.clone());
                    let file =
                        query::comptes(&mut conn, &qui, au.date_naive(), None).await?.into_iter().next();
                    let file = file.unwrap_or(Compte {
                        mois: None,
                        total: 0,
                        a_traiter: 0,
                        a_recontacter: 0,
                        traites: 0,
                        prioritaires: 0,
                        moins_de_45_jours: 0,
                        depuis_45_jours: 0,
                    });
                    let semaine = semaines.remove(id).unwrap_or_default();
                    recaps.push((
                        d,
                        Contenu::Hebdomadaire { ml: nom.clone(), file, semaine },
                        au,
                        email.clone(),
                    ));
                }
            }
            Genre::ActionsMissionsLocales => {
                let actions: Vec<ActionsMissionsLocales> =
                    chiffres::actions_missions_locales(&mut conn, du(genre, au), au)
                        .await?
                        .into_iter()
                        .filter(|a| a_faire(&Destinataire::organisme(&a.uai, &a.siret), genre, au))
                        .collect();
                let (uais, sirets): (Vec<&str>, Vec<&str>) =
                    actions.iter().map(|a| (a.uai.as_str(), a.siret.as_str())).unzip();
                // Their names, and the address each CFA's latest collaboration settings give: one query
                // each for them all.
                let noms: HashMap<(String, String), String> = sqlx::query_as::<_, (String, String, String)>(
                    "SELECT o.uai, o.siret, o.nom FROM organismes o
                     JOIN unnest($1::text[], $2::text[]) AS k(uai, siret) USING (uai, siret)",
                )
                .bind(&uais)
                .bind(&sirets)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|(u, s, n)| ((u, s), n))
                .collect();
                let streams: Vec<String> =
                    actions.iter().map(|a| CollaborationReglee::stream_of(&a.uai, &a.siret)).collect();
                let adresses: HashMap<String, String> = sqlx::query_as::<_, (String, Option<String>)>(
                    "SELECT DISTINCT ON (stream_id) stream_id, data->>'email_recapitulatifs' FROM events
                     WHERE stream_id = ANY($1) AND event_type = $2 ORDER BY stream_id, version DESC",
                )
                .bind(&streams)
                .bind(COLLABORATION_REGLEE)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .filter_map(|(stream, email)| email.map(|e| (stream, e)))
                .collect();
                for (actions, stream) in actions.into_iter().zip(streams) {
                    let d = Destinataire::organisme(&actions.uai, &actions.siret);
                    let cfa = noms
                        .get(&(actions.uai.clone(), actions.siret.clone()))
                        .cloned()
                        .unwrap_or_else(|| actions.uai.clone());
                    recaps.push((d, Contenu::Actions { cfa, actions }, au, adresses.get(&stream).cloned()));
                }
            }
        }
    }
    let mut produits = 0;
    for (d, contenu, au, adresse) in recaps.into_iter().filter(|r| r.1.a_dire()) {
        let recap = recapitulatif(d.clone(), &contenu, au, adresse);
        let event = NewEvent::new(RECAPITULATIF_PRODUIT, serde_json::to_value(&recap)?)
            .with_id(recap.event_id())
            .occurred_at(au.date_naive())
            .with_metadata(metadata());
        match store.append(d.stream_id(), ExpectedVersion::Any, vec![event]).await {
            Ok(outcome) if !outcome.replayed => produits += 1,
            Ok(_) => {}
            // Another producer wrote this recap first, with the figures of its time.
            Err(AppendError::IdReused { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(produits)
}

/// Send by e-mail the recaps produced in the last days with an address and not sent yet, each then
/// recorded as sent; how many were sent, and how many the server refused (tried again next time).
pub async fn envoyer(pool: &PgPool, store: &EventStore, smtp: &Smtp) -> anyhow::Result<(usize, usize)> {
    let rows: Vec<(Uuid, String, serde_json::Value)> = sqlx::query_as(
        "SELECT e.event_id, e.stream_id, e.data FROM events e
         WHERE e.category = 'recapitulatif' AND e.event_type = $1 AND e.data->>'adresse' IS NOT NULL
           AND e.recorded_at > now() - make_interval(days => $3)
           AND NOT EXISTS (SELECT 1 FROM events s WHERE s.stream_id = e.stream_id AND s.event_type = $2
                           AND s.data->>'recapitulatif' = e.event_id::text)
         ORDER BY e.position",
    )
    .bind(RECAPITULATIF_PRODUIT)
    .bind(RECAPITULATIF_ENVOYE)
    .bind(ENVOI_MAX_JOURS as i32)
    .fetch_all(pool)
    .await?;
    let (mut envoyes, mut refuses) = (0, 0);
    for (id, stream, data) in rows {
        let recap: RecapitulatifProduit = serde_json::from_value(data)?;
        let Some(adresse) = recap.adresse else { continue };
        if let Err(error) = smtp.envoyer(&adresse, &recap.sujet, &recap.texte).await {
            tracing::warn!(%error, recapitulatif = %id, "the SMTP server refused a recap");
            refuses += 1;
            continue;
        }
        let envoye = RecapitulatifEnvoye { recapitulatif: id, adresse };
        let event_id = Uuid::new_v5(&id, b"envoye");
        let event = NewEvent::new(RECAPITULATIF_ENVOYE, serde_json::to_value(&envoye)?)
            .with_id(event_id)
            .occurred_at(Utc::now().date_naive())
            .with_metadata(metadata());
        store.append(stream, ExpectedVersion::Any, vec![event]).await?;
        envoyes += 1;
    }
    Ok((envoyes, refuses))
}

/// A recap as its recipient reads it.
#[derive(Debug, Clone)]
pub struct Lu {
    pub id: Uuid,
    pub position: i64,
    pub produit_le: DateTime<Utc>,
    pub recap: RecapitulatifProduit,
    /// When a notifier sent it, and where.
    pub envoye: Option<(DateTime<Utc>, String)>,
}

/// The recaps of `destinataire`, newest first, at most `premiers`.
pub async fn lire(
    store: &EventStore,
    destinataire: &Destinataire,
    premiers: usize,
) -> anyhow::Result<Vec<Lu>> {
    let events = store.read_stream(&destinataire.stream_id(), 1, i64::MAX).await?;
    let mut envois: HashMap<Uuid, (DateTime<Utc>, String)> = HashMap::new();
    for e in events.iter().filter(|e| e.event_type == RECAPITULATIF_ENVOYE) {
        let envoye: RecapitulatifEnvoye = serde_json::from_value(e.data.clone())?;
        envois.insert(envoye.recapitulatif, (e.recorded_at, envoye.adresse));
    }
    let mut lus = Vec::new();
    for e in events.iter().rev().filter(|e| e.event_type == RECAPITULATIF_PRODUIT).take(premiers) {
        lus.push(Lu {
            id: e.event_id,
            position: e.position,
            produit_le: e.recorded_at,
            recap: serde_json::from_value(e.data.clone())?,
            envoye: envois.remove(&e.event_id),
        });
    }
    Ok(lus)
}

/// Produce the recaps due and send them, every ten minutes, as long as the service runs.
pub async fn every_ten_minutes(pool: PgPool, store: EventStore, smtp: Option<Smtp>, heure: u32) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        match produire(&pool, &store, &echeances(Utc::now(), heure)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(produced = n, "recaps produced"),
            Err(error) => tracing::warn!(%error, "could not produce the recaps"),
        }
        if let Some(smtp) = &smtp {
            match envoyer(&pool, &store, smtp).await {
                Ok((0, 0)) => {}
                Ok((sent, refused)) => tracing::info!(sent, refused, "recaps e-mailed"),
                Err(error) => tracing::warn!(%error, "could not send the recaps"),
            }
        }
    }
}

#[cfg(test)]
#[path = "recapitulatifs_tests.rs"]
mod tests;
