//! The follow-up of ruptures as commands (domain.md §7): an advisor records a situation on an entry of
//! the Mission Locale's queue, a CFA asks for a joint follow-up of a rupture of one of its dossiers, or
//! declares a rupture itself. Each is decided by a pure function of what it read (the queue's entry,
//! or the dossier folded from its stream), whose refusals name the command's field; then recorded:
//! a follow-up on the person's stream (`suivi::stream_id`), a declared rupture on the dossier's
//! stream at the version that was read (a `Conflict` when it moved meanwhile).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, Utc};
use events::domain::{Email, OrganismeRef, Telephone};
use events::dossier::event::Rupture;
use events::dossier::{Dossier, DossierEvent};
use events::limits::Texte;
use events::rupture::{
    self as suivi, Connaissance, MotifSuivi, PartageRefuse, ProblemeType, Referent, RuptureEvent, Situation,
    SituationRenseignee, SuiviConjointDemande,
};
use events::{Actor, AppendError, Channel, EventStore, ExpectedVersion, NewEvent};
use projections::ruptures::query::{self, Ligne, Qui};
use sqlx::PgPool;

use super::{CommandError, metadata};
use crate::auth::Role;
use crate::auth::viewer::Viewer;

/// An advisor's situation for an entry of the queue.
#[derive(Debug, Clone)]
pub struct RenseignerSituation {
    /// The entry (the person key).
    pub entree: String,
    pub situation: Situation,
    /// What AUTRE is (and only with it).
    pub situation_autre: Option<String>,
    pub commentaire: Option<String>,
    pub connaissance: Option<Connaissance>,
    /// What keeps the ML from reaching the person, if anything.
    pub probleme_type: Option<ProblemeType>,
    /// What the problem is (and only with AUTRE).
    pub probleme_detail: Option<String>,
    /// The young person wishes an appointment.
    pub souhaite_rdv: bool,
}

/// A CFA's request for a joint follow-up of a rupture of one of its dossiers.
#[derive(Debug, Clone)]
pub struct DemanderSuiviConjoint {
    pub dossier: String,
    pub motifs: BTreeSet<MotifSuivi>,
    /// Required with the motif AUTRE.
    pub commentaire: Option<String>,
    /// The young person's phone number, as the CFA just verified it.
    pub telephone_verifie: String,
    /// A comment per motif of the request.
    pub commentaires_motifs: Vec<(MotifSuivi, String)>,
    /// Whether the young person is still at the CFA.
    pub encore_au_cfa: Option<bool>,
    pub cause_rupture: Option<String>,
    /// The person at the CFA the Mission Locale can reach.
    pub referent: Option<ReferentDemande>,
    /// The young person's e-mail and address, as the CFA just verified them.
    pub email_verifie: Option<String>,
    pub adresse_verifiee: Option<String>,
}

/// A referent at the CFA, as asked.
#[derive(Debug, Clone)]
pub struct ReferentDemande {
    pub nom: String,
    pub prenom: String,
    pub email: Option<String>,
    pub telephone: Option<String>,
}

/// A CFA declares the rupture of a dossier's ongoing contract.
#[derive(Debug, Clone)]
pub struct DeclarerRupture {
    pub dossier: String,
    /// The first day without the contract.
    pub date_rupture: NaiveDate,
    pub cause: Option<String>,
}

/// A follow-up event decided, for the entry it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Suivi {
    pub entree: String,
    pub event: RuptureEvent,
}

/// What a command recorded: the entry (person key) it concerns, and its event's log position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub entree: String,
    pub position: i64,
}

/// Free text of a family (`events::limits::Texte`): trimmed, empty is none, within its length and
/// without control characters but line breaks.
pub(super) fn texte(
    field: &str,
    value: Option<String>,
    famille: Texte,
) -> Result<Option<String>, CommandError> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if let Some(v) = &value {
        famille.check(v).map_err(|e| CommandError::invalid(field, e))?;
    }
    Ok(value)
}

/// Decide an advisor's situation, given the entry as the caller (`qui`) sees it today.
pub fn decide_situation(
    qui: &Qui,
    ligne: Option<&Ligne>,
    command: RenseignerSituation,
) -> Result<Suivi, CommandError> {
    let situation_autre = texte("situationAutre", command.situation_autre, Texte::Libelle)?;
    match (command.situation, &situation_autre) {
        (Situation::Autre, None) => {
            return Err(CommandError::invalid("situationAutre", "dites quelle est la situation AUTRE"));
        }
        (s, Some(_)) if s != Situation::Autre => {
            return Err(CommandError::invalid("situationAutre", "seulement avec la situation AUTRE"));
        }
        _ => {}
    }
    let commentaire = texte("commentaire", command.commentaire, Texte::Commentaire)?;
    let probleme_detail = texte("problemeDetail", command.probleme_detail, Texte::Libelle)?;
    match (command.probleme_type, &probleme_detail) {
        (Some(ProblemeType::Autre), None) => {
            return Err(CommandError::invalid("problemeDetail", "dites quel est le problème AUTRE"));
        }
        (p, Some(_)) if p != Some(ProblemeType::Autre) => {
            return Err(CommandError::invalid("problemeDetail", "seulement avec le problème AUTRE"));
        }
        _ => {}
    }
    let entree = &command.entree;
    let ligne = match ligne {
        Some(l) if Viewer::may_read_entree(qui, l) && l.visible => l,
        Some(l) if Viewer::may_read_entree(qui, l) => {
            return Err(CommandError::invalid(
                "entree",
                format!("{entree} n'est plus dans la file (nouveau contrat ou fin de formation)"),
            ));
        }
        _ => return Err(CommandError::invalid("entree", format!("{entree} : aucune entrée de votre file"))),
    };
    let Some(mission_locale) = ligne.ml_id.clone() else {
        return Err(CommandError::invalid("entree", "sans Mission Locale"));
    };
    let event = RuptureEvent::Situation(SituationRenseignee {
        mission_locale,
        date_rupture: ligne.date_rupture,
        situation: command.situation,
        situation_autre,
        commentaire,
        connaissance: command.connaissance,
        probleme_type: command.probleme_type,
        probleme_detail,
        souhaite_rdv: command.souhaite_rdv,
    });
    Ok(Suivi { entree: ligne.entree.clone(), event })
}

/// Decide a request for a joint follow-up, given the queue's entry of the dossier's person as the
/// caller (`qui`) sees it today.
pub fn decide_suivi_conjoint(
    qui: &Qui,
    ligne: Option<&Ligne>,
    command: DemanderSuiviConjoint,
) -> Result<Suivi, CommandError> {
    if command.motifs.is_empty() {
        return Err(CommandError::invalid("motifs", "au moins un motif"));
    }
    let commentaire = texte("commentaire", command.commentaire, Texte::Commentaire)?;
    if command.motifs.contains(&MotifSuivi::Autre) && commentaire.is_none() {
        return Err(CommandError::invalid("commentaire", "dites en commentaire quel est le motif AUTRE"));
    }
    let telephone = Telephone::parse(&command.telephone_verifie)
        .map_err(|e| CommandError::invalid("telephoneVerifie", e))?;
    let commentaires_motifs = commentaires_motifs(&command.motifs, command.commentaires_motifs)?;
    let cause_rupture = texte("causeRupture", command.cause_rupture, Texte::Libelle)?;
    let referent = command.referent.map(referent).transpose()?;
    let email_verifie = optional("emailVerifie", command.email_verifie, Email::parse)?;
    let adresse_verifiee = texte("adresseVerifiee", command.adresse_verifiee, Texte::Adresse)?;
    let Some(ligne) = ligne.filter(|l| Viewer::may_read_entree(qui, l) && l.dossier_id == command.dossier)
    else {
        return Err(CommandError::invalid(
            "dossier",
            format!("{} n'a pas de rupture dans la file d'une Mission Locale", command.dossier),
        ));
    };
    let event = RuptureEvent::SuiviConjoint(SuiviConjointDemande {
        dossier_id: command.dossier,
        date_rupture: ligne.date_rupture,
        motifs: command.motifs,
        commentaire,
        telephone_verifie: Some(telephone),
        commentaires_motifs,
        encore_au_cfa: command.encore_au_cfa,
        cause_rupture,
        referent,
        email_verifie,
        adresse_verifiee,
    });
    Ok(Suivi { entree: ligne.entree.clone(), event })
}

/// The comments per motif: each about a motif of the request, once, within a comment's length.
fn commentaires_motifs(
    motifs: &BTreeSet<MotifSuivi>,
    asked: Vec<(MotifSuivi, String)>,
) -> Result<BTreeMap<MotifSuivi, String>, CommandError> {
    let field = "commentairesMotifs";
    let mut kept = BTreeMap::new();
    for (motif, commentaire) in asked {
        if !motifs.contains(&motif) {
            return Err(CommandError::invalid(
                field,
                format!("{} n'est pas un motif de la demande", motif.as_str()),
            ));
        }
        let Some(commentaire) = texte(field, Some(commentaire), Texte::Commentaire)? else { continue };
        if kept.insert(motif, commentaire).is_some() {
            return Err(CommandError::invalid(field, format!("un seul commentaire pour {}", motif.as_str())));
        }
    }
    Ok(kept)
}

/// The referent, named, with contacts that are valid when given.
fn referent(asked: ReferentDemande) -> Result<Referent, CommandError> {
    let required = |field: &str, value: String| {
        texte(field, Some(value), Texte::Nom)?
            .ok_or_else(|| CommandError::invalid(field, "ne doit pas être vide"))
    };
    Ok(Referent {
        nom: required("referent.nom", asked.nom)?,
        prenom: required("referent.prenom", asked.prenom)?,
        email: optional("referent.email", asked.email, Email::parse)?,
        telephone: optional("referent.telephone", asked.telephone, Telephone::parse)?,
    })
}

/// A value read by `parse` when given (empty is none), else a refusal naming `field`.
fn optional<T, E: std::fmt::Display>(
    field: &str,
    value: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, CommandError> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(|v| parse(&v).map_err(|e| CommandError::invalid(field, e)))
        .transpose()
}

/// Decide a declared rupture, given the dossier as its stream folds and the organisme declaring it
/// (none for an administrator): the date is not in the future and at most a year old, the dossier is
/// the organisme's (formateur or responsable), and one of its contracts was ongoing, unbroken, that day.
pub fn decide_rupture(
    organisme: Option<&OrganismeRef>,
    dossier: &Dossier,
    today: NaiveDate,
    command: DeclarerRupture,
) -> Result<DossierEvent, CommandError> {
    let date = command.date_rupture;
    if date > today {
        return Err(CommandError::invalid("dateRupture", format!("{date} est dans le futur")));
    }
    if date < today - chrono::Duration::days(365) {
        return Err(CommandError::invalid("dateRupture", format!("{date} a plus d'un an")));
    }
    let cause = texte("cause", command.cause, Texte::Libelle)?;
    let not_found = || {
        CommandError::invalid(
            "dossier",
            format!("{} : aucun dossier que vous puissiez modifier", command.dossier),
        )
    };
    let Some(inscription) = &dossier.inscription else { return Err(not_found()) };
    if let Some(own) = organisme {
        let own = (own.uai.as_str(), own.siret.as_str());
        let formateur = (inscription.formateur.uai.as_str(), inscription.formateur.siret.as_str());
        let responsable = (inscription.responsable.uai.as_str(), inscription.responsable.siret.as_str());
        if own != formateur && own != responsable {
            return Err(not_found());
        }
    }
    let contrat = dossier
        .contrats
        .values()
        .rfind(|c| {
            c.rupture.is_none()
                && c.contrat.date_debut < date
                && c.contrat.date_fin.is_none_or(|fin| date <= fin)
        })
        .ok_or_else(|| {
            CommandError::invalid(
                "dateRupture",
                format!("aucun contrat du dossier n'était en cours le {date} sans rupture"),
            )
        })?;
    Ok(DossierEvent::RuptureEnregistree(Rupture {
        date_debut_contrat: contrat.contrat.date_debut,
        date_rupture: date,
        cause,
    }))
}

/// Record an advisor's situation (a MISSION_LOCALE key for its queue, or an administrator).
pub async fn renseigner_situation(
    pool: &PgPool,
    store: &EventStore,
    viewer: &Viewer,
    channel: Channel,
    command: RenseignerSituation,
) -> Result<Recorded, CommandError> {
    viewer.require(&[Role::MissionLocale, Role::Administrateur], "qualifier une entrée")?;
    let qui = viewer.ruptures(None)?;
    let ligne = query::une(&mut *pool.acquire().await?, &command.entree, Utc::now().date_naive()).await?;
    let suivi = decide_situation(&qui, ligne.as_ref(), command)?;
    record(store, acteur(viewer)?, channel, suivi).await
}

/// Record a CFA's request for a joint follow-up (the organisme's key, or an administrator).
pub async fn demander_suivi_conjoint(
    pool: &PgPool,
    store: &EventStore,
    viewer: &Viewer,
    channel: Channel,
    command: DemanderSuiviConjoint,
) -> Result<Recorded, CommandError> {
    let principal =
        viewer.require(&[Role::OrganismeFormation, Role::Administrateur], "demander un suivi conjoint")?;
    let qui = viewer.ruptures(None)?;
    let ligne = entree_du_dossier(pool, &command.dossier).await?;
    let suivi = decide_suivi_conjoint(&qui, ligne.as_ref(), command)?;
    record(store, principal.actor(), channel, suivi).await
}

/// A CFA's refusal to share the entry of one of its dossiers with the Mission Locale.
#[derive(Debug, Clone)]
pub struct RefuserPartage {
    pub dossier: String,
    /// Why (at most 500 characters).
    pub motif: String,
}

/// Decide a refusal to share, given the queue's entry of the dossier's person as the CFA sees it.
pub fn decide_refus(
    qui: &Qui,
    ligne: Option<&Ligne>,
    command: RefuserPartage,
) -> Result<Suivi, CommandError> {
    let Some(motif) = texte("motif", Some(command.motif), Texte::Libelle)? else {
        return Err(CommandError::invalid("motif", "dites pourquoi l'entrée n'est pas partagée"));
    };
    let Some(ligne) = ligne.filter(|l| Viewer::may_read_entree(qui, l) && l.dossier_id == command.dossier)
    else {
        return Err(CommandError::invalid(
            "dossier",
            format!("{} n'a pas de rupture dans la file d'une Mission Locale", command.dossier),
        ));
    };
    let event = RuptureEvent::PartageRefuse(PartageRefuse {
        dossier_id: command.dossier,
        date_rupture: ligne.date_rupture,
        motif: Some(motif),
    });
    Ok(Suivi { entree: ligne.entree.clone(), event })
}

/// Refuse to share an entry of one of the organisme's dossiers with its Mission Locale (its key).
pub async fn refuser_partage(
    pool: &PgPool,
    store: &EventStore,
    viewer: &Viewer,
    channel: Channel,
    command: RefuserPartage,
) -> Result<Recorded, CommandError> {
    let principal = viewer.require(&[Role::OrganismeFormation], "refuser de partager une entrée")?;
    let qui = viewer.ruptures(None)?;
    let ligne = entree_du_dossier(pool, &command.dossier).await?;
    let suivi = decide_refus(&qui, ligne.as_ref(), command)?;
    record(store, principal.actor(), channel, suivi).await
}

/// The queue's entry today of the person whose dossier this is, if any.
async fn entree_du_dossier(pool: &PgPool, dossier: &str) -> Result<Option<Ligne>, CommandError> {
    let personne: Option<String> =
        sqlx::query_scalar("SELECT personne FROM rm_rupture_dossiers WHERE dossier_id = $1")
            .bind(dossier)
            .fetch_optional(pool)
            .await?;
    Ok(match personne {
        Some(p) => query::une(&mut *pool.acquire().await?, &p, Utc::now().date_naive()).await?,
        None => None,
    })
}

/// Declare a rupture (the organisme's key, formateur or responsable, or an administrator): a
/// `RuptureEnregistree` on the dossier's stream, at the version it was decided on.
pub async fn declarer_rupture(
    store: &EventStore,
    viewer: &Viewer,
    channel: Channel,
    command: DeclarerRupture,
) -> Result<Recorded, CommandError> {
    let principal =
        viewer.require(&[Role::OrganismeFormation, Role::Administrateur], "déclarer une rupture")?;
    let stream = command.dossier.clone();
    let recorded = store.read_stream(&stream, 1, i64::MAX).await?;
    let dossier = Dossier::from_log(recorded.iter());
    let date = command.date_rupture;
    let event = decide_rupture(principal.organisme.as_ref(), &dossier, Utc::now().date_naive(), command)?;
    let personne = dossier.inscription.as_ref().map(|i| i.personne.identite.clone()).unwrap_or_default();
    let version = recorded.last().map_or(0, |e| e.version);
    let new = event.to_new_event(date, metadata(principal.actor(), channel));
    let outcome = store.append(stream.clone(), ExpectedVersion::Exact(version), vec![new]).await.map_err(
        |e| match e {
            AppendError::Conflict { .. } => {
                CommandError::Conflict(format!("{stream} a changé pendant la déclaration : relisez-le"))
            }
            other => CommandError::Failed(other.to_string()),
        },
    )?;
    Ok(Recorded { entree: personne, position: outcome.positions[0] })
}

/// Who the log records as acting: an advisor for their Mission Locale (`MISSION_LOCALE:<id>`), any
/// other key for its organisation.
pub(super) fn acteur(viewer: &Viewer) -> Result<Actor, CommandError> {
    let principal = viewer.principal()?;
    Ok(match principal.role {
        Role::MissionLocale => Actor {
            organisation: format!("MISSION_LOCALE:{}", viewer.mission_locale()?),
            ..principal.actor()
        },
        _ => principal.actor(),
    })
}

/// Append a follow-up event on the person's stream, by `actor`.
async fn record(
    store: &EventStore,
    actor: Actor,
    channel: Channel,
    suivi: Suivi,
) -> Result<Recorded, CommandError> {
    let (event_type, data) = (suivi.event.event_type(), suivi.event.data());
    record_on(store, actor, channel, &suivi.entree, event_type, data).await
}

/// Append an event on the stream of the person `entree` (a follow-up or the thread), by `actor`. The
/// entry is the person key: the event's personal data are sealed under it.
pub(super) async fn record_on(
    store: &EventStore,
    actor: Actor,
    channel: Channel,
    entree: &str,
    event_type: &str,
    data: serde_json::Value,
) -> Result<Recorded, CommandError> {
    let new = NewEvent::new(event_type, data)
        .about(entree)
        .occurred_at(Utc::now().date_naive())
        .with_metadata(metadata(actor, channel));
    let outcome = store
        .append(suivi::stream_id(entree), ExpectedVersion::Any, vec![new])
        .await
        .map_err(|e| CommandError::Failed(e.to_string()))?;
    Ok(Recorded { entree: entree.to_owned(), position: outcome.positions[0] })
}

#[cfg(test)]
#[path = "ruptures_tests.rs"]
pub(super) mod tests;
