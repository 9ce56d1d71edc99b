//! A person's sheet in a rupture queue (domain.md §14, §11), for the Mission Locale and the CFA alike:
//! identity, age, contacts (those the CFA verified first), formation and contracts, the organisme and
//! its referent, where the collaboration stands, the history of actions, the thread between the CFA
//! and the Mission Locale with what the reader's side has not read, and the forms the reader's side
//! may use (the Mission Locale qualifies; the CFA asks for a joint follow-up or refuses to share; both
//! write in the thread). Also what the queue's pages share: who reads a queue, the identities of
//! entries, and how a form's outcome is answered.

use std::collections::HashMap;

use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{NaiveDate, Utc};
use events::RecordedEvent;
use events::fil::Cote;
use events::rupture::{MotifSuivi, Situation};
use projections::dossiers::identite;
use projections::ruptures::collaboration::{self, Collaboration};
use projections::ruptures::entree::age;
use projections::ruptures::{fil, query};

use super::pages::{Identite, Message, Refus, internal, render, situation_libelle};
use super::web::{autorise, redirect, refuse_csrf};
use crate::app::ruptures::Recorded;
use crate::app::{AppState, CommandError};
use crate::auth::comptes::Session;
use crate::auth::keys::Role;
use crate::auth::viewer::Viewer;

/// How long a form's answer waits for the queue to hold what it recorded.
const RATTRAPAGE: std::time::Duration = std::time::Duration::from_secs(5);

/// The identity in a dossier's or a DECA contract's events (personal data already opened).
fn identite(events: &[RecordedEvent]) -> Option<identite::Identite> {
    if events.first().is_some_and(|e| e.stream_id.starts_with("deca-")) {
        let contrat = events::deca::contrat_de(events)?;
        return identite::Identite::of_apprenti(&contrat.contrat.apprenti);
    }
    identite::Identite::of_personnel(
        &events::dossier::Dossier::from_log(events.iter()).inscription?.personnel,
    )
}

impl From<identite::Identite> for Identite {
    fn from(i: identite::Identite) -> Identite {
        Identite { nom: i.nom, prenom: i.prenom, telephone: i.telephone, email: i.email }
    }
}

/// The identities of these entries' dossiers, by dossier id: those kept sealed in the dossiers' rows,
/// the others folded from their events (read in one query). An erased person has none.
pub(super) async fn identites(
    state: &AppState,
    dossiers: &[&str],
) -> Result<HashMap<String, Identite>, String> {
    let ids: Vec<String> = dossiers.iter().map(|d| (*d).to_owned()).collect();
    let kept = match state.store.vault() {
        Some(vault) => {
            let mut conn = state.pool.acquire().await.map_err(|e| e.to_string())?;
            identite::lire(&mut conn, vault, &ids).await.map_err(|e| e.to_string())?
        }
        None => HashMap::new(),
    };
    let streams: Vec<String> =
        dossiers.iter().filter(|d| !kept.contains_key(**d)).map(|d| stream_of(d).to_owned()).collect();
    let read = if streams.is_empty() {
        HashMap::new()
    } else {
        state.store.read_streams(&streams).await.map_err(|e| e.to_string())?
    };
    let folded = dossiers.iter().filter_map(|d| Some(((*d).to_owned(), identite(read.get(stream_of(d))?)?)));
    let opened = kept.into_iter().filter_map(|(d, lue)| match lue {
        identite::Lue::Identite(i) => Some((d, *i)),
        identite::Lue::Effacee => None,
    });
    Ok(folded.chain(opened).map(|(d, i)| (d, i.into())).collect())
}

/// The stream of an entry's dossier (a DECA contract's dossier id names its année).
fn stream_of(dossier_id: &str) -> &str {
    match dossier_id.split_once(':') {
        Some((stream, _)) if dossier_id.starts_with("deca-") => stream,
        _ => dossier_id,
    }
}

/// The signed-in person and what they may read of the queue; else the page to answer with.
pub(super) async fn lecteur(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Session, Viewer, query::Qui), Response> {
    autorise(
        state,
        headers,
        |viewer| viewer.ruptures(None),
        "Votre rôle ne donne pas accès à une file de ruptures.",
    )
    .await
}

/// The signed-in person sending a form of the queue with the session's CSRF token; else the page to
/// answer with.
pub(super) async fn auteur(state: &AppState, headers: &HeaderMap, csrf: &str) -> Result<Viewer, Response> {
    let (session, viewer, _) = lecteur(state, headers).await?;
    if session.csrf != csrf {
        return Err(refuse_csrf());
    }
    Ok(viewer)
}

/// A contract as the sheet lists it.
pub struct Contrat {
    pub debut: String,
    pub fin: String,
    pub employeur: String,
    pub rupture: String,
}

/// The formation and contracts in a dossier's or a DECA contract's events.
pub(super) fn parcours(events: &[RecordedEvent]) -> (String, Vec<Contrat>) {
    let jour = |d: NaiveDate| d.format("%d/%m/%Y").to_string();
    let formation = |libelle: Option<String>, cfd: Option<String>, rncp: Option<String>| {
        let codes: Vec<String> = cfd.into_iter().map(|c| format!("CFD {c}")).chain(rncp).collect();
        match (libelle, codes.is_empty()) {
            (Some(l), false) => format!("{l} ({})", codes.join(", ")),
            (Some(l), true) => l,
            (None, _) => codes.join(", "),
        }
    };
    if events.first().is_some_and(|e| e.stream_id.starts_with("deca-")) {
        let Some(c) = events::deca::contrat_de(events).map(|c| c.contrat) else { return Default::default() };
        let contrat = Contrat {
            debut: jour(c.date_debut),
            fin: jour(c.date_fin_prevue),
            employeur: c.siret_employeur.to_string(),
            rupture: c.date_rupture.map(jour).unwrap_or_default(),
        };
        let formation = formation(None, c.cfd.map(|c| c.to_string()), c.rncp.map(|r| r.to_string()));
        return (formation, vec![contrat]);
    }
    let dossier = events::dossier::Dossier::from_log(events.iter());
    let formation = dossier.inscription.map_or_else(String::new, |i| {
        let f = i.formation;
        formation(f.libelle_court, f.cfd.map(|c| c.to_string()), f.rncp.map(|r| r.to_string()))
    });
    let contrats = dossier
        .contrats
        .values()
        .map(|c| Contrat {
            debut: jour(c.contrat.date_debut),
            fin: c.contrat.date_fin.map(jour).unwrap_or_default(),
            employeur: c.contrat.siret_employeur.as_ref().map(ToString::to_string).unwrap_or_default(),
            rupture: c.rupture.as_ref().map(|r| jour(r.date_rupture)).unwrap_or_default(),
        })
        .collect();
    (formation, contrats)
}

/// A message of the thread as the sheet shows it.
pub struct MessageFil {
    quand: String,
    de: &'static str,
    organisation: String,
    texte: String,
    /// From the other side, not read yet by the reader's.
    nouveau: bool,
}

/// The contacts the CFA verified, and its referent, as its latest request gave them.
pub struct Verifies {
    le: String,
    telephone: String,
    email: String,
    adresse: String,
    referent: String,
}

/// A person's sheet.
#[derive(Template)]
#[template(path = "console/rupture.html")]
pub struct Fiche {
    nav: super::pages::Nav,
    csrf: String,
    entree: String,
    identite: Identite,
    age: i32,
    date_rupture: String,
    jours: i32,
    code_postal: String,
    organisme: String,
    prioritaire: bool,
    situation: &'static str,
    commentaire: String,
    collaboration: &'static str,
    partage_refuse: bool,
    message: Option<Message>,
    formation: String,
    contrats: Vec<Contrat>,
    verifies: Option<Verifies>,
    /// What the Mission Locale and the CFA did, oldest first: when, who, what, situation, comment.
    historique: Vec<(String, String, String, String, String)>,
    fil: Vec<MessageFil>,
    non_lus: usize,
    /// The reader's side, if it writes in the thread.
    cote: Option<Cote>,
    situations: Vec<(&'static str, &'static str)>,
    connaissances: Vec<(&'static str, &'static str)>,
    motifs: Vec<(&'static str, &'static str)>,
}

/// The state of the collaboration as the console names it.
fn collaboration_libelle(c: Collaboration) -> &'static str {
    match c {
        Collaboration::DemarrerCollab => "Pas encore de demande du CFA",
        Collaboration::CollabDemandee => "Suivi conjoint demandé par le CFA",
        Collaboration::ContacteParMlHorsCollab => "Contacté par la Mission Locale hors collaboration",
        Collaboration::TraiteParMl => "Traité par la Mission Locale",
    }
}

/// A motif of a request as the console names it.
fn motif_libelle(m: MotifSuivi) -> &'static str {
    match m {
        MotifSuivi::Mobilite => "Mobilité",
        MotifSuivi::Logement => "Logement",
        MotifSuivi::Sante => "Santé",
        MotifSuivi::Finance => "Finances",
        MotifSuivi::Administratif => "Administratif",
        MotifSuivi::SocialFamilial => "Social ou familial",
        MotifSuivi::Reorientation => "Réorientation",
        MotifSuivi::RechercheEmploi => "Recherche d'emploi",
        MotifSuivi::Autre => "Autre",
    }
}

/// An action as the sheet lists it: when, who, what, the situation, the comment.
fn action(a: &query::Action) -> (String, String, String, String, String) {
    let quoi = match a.event_type.as_str() {
        "SituationRenseignee" => "Situation renseignée",
        "SuiviConjointDemande" => "Suivi conjoint demandé par le CFA",
        "PartageRefuse" => "Partage refusé par le CFA",
        other => other,
    };
    let texte = |field: &str| a.data[field].as_str().unwrap_or_default().to_owned();
    let commentaire = match a.event_type.as_str() {
        "PartageRefuse" => texte("motif"),
        _ => texte("commentaire"),
    };
    (
        a.recorded_at.format("%d/%m/%Y %H:%M").to_string(),
        a.organisation.clone(),
        quoi.to_owned(),
        a.data["situation"].as_str().map_or(String::new(), |s| situation_libelle(s).to_owned()),
        commentaire,
    )
}

/// The sheet of an entry, with a message (the outcome of a form) if any.
pub(super) async fn afficher(
    state: &AppState,
    headers: &HeaderMap,
    entree: &str,
    status: StatusCode,
    message: Option<Message>,
) -> Response {
    let (session, _, qui) = match lecteur(state, headers).await {
        Ok(reader) => reader,
        Err(page) => return page,
    };
    let jour = Utc::now().date_naive();
    let cote = crate::app::fil::cote(&session.principal).ok();
    let lu = async {
        let mut conn = state.pool.acquire().await?;
        let Some(ligne) =
            query::une(&mut conn, entree, jour).await?.filter(|l| Viewer::may_read_entree(&qui, l))
        else {
            return Ok(None);
        };
        let cles = std::slice::from_ref(&ligne.entree);
        let actions = query::historiques(&mut conn, cles).await?;
        let messages = fil::messages(&mut conn, cles).await?;
        let lu = match cote {
            Some(cote) => fil::lus(&mut conn, cles, cote).await?.remove(entree).unwrap_or(0),
            None => 0,
        };
        let nom: Option<String> =
            sqlx::query_scalar("SELECT nom FROM rm_organismes WHERE uai = $1 AND siret = $2")
                .bind(&ligne.uai_formateur)
                .bind(&ligne.siret_formateur)
                .fetch_optional(&mut *conn)
                .await?;
        Ok::<_, sqlx::Error>(Some((ligne, actions, messages, lu, nom)))
    };
    let (ligne, actions, messages, lu, nom) = match lu.await {
        Ok(Some(read)) => read,
        Ok(None) => {
            return render(
                StatusCode::NOT_FOUND,
                &Refus::new("Aucune entrée de votre file ne porte cet identifiant."),
            );
        }
        Err(error) => return internal(error),
    };
    let stream = stream_of(&ligne.dossier_id).to_owned();
    let events = match state.store.read_streams(std::slice::from_ref(&stream)).await {
        Ok(mut read) => read.remove(&stream).unwrap_or_default(),
        Err(error) => return internal(error),
    };
    let details = serde_json::json!({ "entrees": [&ligne.entree] });
    if let Err(error) = state.journal.record(&session.principal, "rupture", &ligne.entree, details).await {
        return internal(error);
    }
    let (formation, contrats) = parcours(&events);
    let verifies = query::contacts_verifies(&actions).map(|(le, d)| Verifies {
        le: le.format("%d/%m/%Y").to_string(),
        telephone: d.telephone_verifie.map(|t| t.to_string()).unwrap_or_default(),
        email: d.email_verifie.map(|e| e.to_string()).unwrap_or_default(),
        adresse: d.adresse_verifiee.unwrap_or_default(),
        referent: d
            .referent
            .map(|r| {
                let contacts: Vec<String> = r
                    .telephone
                    .map(|t| t.to_string())
                    .into_iter()
                    .chain(r.email.map(|e| e.to_string()))
                    .collect();
                format!("{} {} {}", r.prenom, r.nom, contacts.join(", ")).trim().to_owned()
            })
            .unwrap_or_default(),
    });
    let fil: Vec<MessageFil> = messages
        .iter()
        .map(|m| MessageFil {
            quand: m.recorded_at.format("%d/%m/%Y %H:%M").to_string(),
            de: if m.cote == Cote::MissionLocale.as_str() { "Mission Locale" } else { "CFA" },
            organisation: m.organisation.clone(),
            texte: m.texte.clone().unwrap_or_else(|| "(effacé)".into()),
            nouveau: cote.is_some_and(|c| m.cote != c.as_str() && m.position > lu),
        })
        .collect();
    let situation = ligne.situation.as_deref().and_then(Situation::parse);
    let page = Fiche {
        nav: super::pages::Nav::of(&session),
        csrf: session.csrf.clone(),
        entree: ligne.entree.clone(),
        identite: identite(&events).map(Into::into).unwrap_or_default(),
        age: age(ligne.date_de_naissance, jour),
        date_rupture: ligne.date_rupture.format("%d/%m/%Y").to_string(),
        jours: ligne.jours_depuis_rupture,
        code_postal: ligne.code_postal.clone().unwrap_or_default(),
        organisme: match nom {
            Some(nom) => format!("{nom} ({}:{})", ligne.uai_formateur, ligne.siret_formateur),
            None => format!("{}:{}", ligne.uai_formateur, ligne.siret_formateur),
        },
        prioritaire: ligne.prioritaire,
        situation: ligne.situation.as_deref().map_or("—", situation_libelle),
        commentaire: ligne.commentaire.clone().unwrap_or_default(),
        collaboration: collaboration_libelle(collaboration::collaboration(ligne.suivi_conjoint, situation)),
        partage_refuse: ligne.partage_refuse,
        message,
        formation,
        contrats,
        verifies,
        historique: actions.iter().map(action).collect(),
        non_lus: fil.iter().filter(|m| m.nouveau).count(),
        fil,
        cote: cote.filter(|_| session.principal.role != Role::Administrateur),
        situations: Situation::ALL.iter().map(|s| (s.as_str(), situation_libelle(s.as_str()))).collect(),
        connaissances: vec![
            ("DEJA_ACCOMPAGNE_ACTIVEMENT", "Déjà accompagné activement"),
            ("CONNU_NON_ACCOMPAGNE", "Connu, non accompagné"),
            ("NON_CONNU", "Non connu"),
        ],
        motifs: MotifSuivi::ALL.iter().map(|m| (m.as_str(), motif_libelle(*m))).collect(),
    };
    render(status, &page)
}

/// The answer to a form of the sheet: back to the sheet once the queue holds what was recorded, with
/// `succes`; else the sheet with the refusal, naming the field.
pub(super) async fn issue(
    state: &AppState,
    headers: &HeaderMap,
    entree: &str,
    outcome: Result<Option<Recorded>, CommandError>,
    succes: &str,
) -> Response {
    let (status, message) = match outcome {
        Ok(recorded) => {
            if let Some(recorded) = recorded {
                rattraper(state, recorded.position).await;
            }
            return redirect(&format!("/console/ruptures/{entree}?ok={succes}"), Vec::new());
        }
        Err(error) => match refus_commande(error) {
            Ok(refus) => refus,
            Err(failure) => return internal(failure),
        },
    };
    afficher(state, headers, entree, status, Some(Message::Erreur(message))).await
}

/// Wait (a while) for the queue to hold what a form recorded at `position`: the page shown next reads it.
pub(super) async fn rattraper(state: &AppState, position: i64) {
    let checkpoint = crate::read_models::checkpoint(crate::read_models::ReadModel::Ruptures);
    if !state.store.wait_checkpoint(&checkpoint, position, RATTRAPAGE).await {
        tracing::warn!(position, "the queue did not include the action in time");
    }
}

/// A refused command as a form's page says it: its status and message (a refused value names its
/// field); else our failure, described for the log.
pub(super) fn refus_commande(error: CommandError) -> Result<(StatusCode, String), String> {
    match error {
        CommandError::Invalid { field, message } => {
            Ok((StatusCode::BAD_REQUEST, format!("{field} : {message}")))
        }
        CommandError::Forbidden(message) => Ok((StatusCode::FORBIDDEN, message)),
        CommandError::NotFound(message) => Ok((StatusCode::NOT_FOUND, message)),
        CommandError::Conflict(message) => Ok((StatusCode::CONFLICT, message)),
        error => Err(format!("{error:?}")),
    }
}
