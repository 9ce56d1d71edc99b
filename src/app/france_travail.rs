//! France Travail's follow-up (domain.md §12): an advisor of a région sets the situation of an entry of
//! its queue for one of the entry's sectors, with a comment (personal data, sealed). Decided by a pure
//! function of the entry as the advisor sees it today, then appended on the person's stream.

use chrono::Utc;
use events::france_travail::{
    SITUATION_FRANCE_TRAVAIL_RENSEIGNEE, SituationFranceTravailRenseignee, SituationFt, stream_id,
};
use events::limits::Texte;
use events::{Channel, EventStore, ExpectedVersion, NewEvent};
use projections::france_travail::query::{self, Ligne, Perimetre};
use sqlx::PgPool;

use super::ruptures::{Recorded, texte};
use super::{CommandError, metadata};
use crate::auth::Role;
use crate::auth::viewer::Viewer;

/// A situation asked by an advisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenseignerSituationFt {
    pub entree: String,
    pub secteur: String,
    pub situation: SituationFt,
    pub commentaire: Option<String>,
}

/// Decide an advisor's situation, given the entry as the advisor (`perimetre`) sees it today.
pub fn decide(
    perimetre: &Perimetre,
    ligne: Option<&Ligne>,
    command: RenseignerSituationFt,
) -> Result<SituationFranceTravailRenseignee, CommandError> {
    let ligne = ligne.filter(|l| l.visible && may_read(perimetre, l)).ok_or_else(|| {
        CommandError::NotFound(format!("entree : aucune entrée {} dans votre file", command.entree))
    })?;
    let secteur = events::formation::parse_secteur(&command.secteur)
        .map_err(|why| CommandError::invalid("secteur", why))?
        .unwrap_or_default();
    if !ligne.secteurs.contains(&secteur) {
        let secteurs =
            if ligne.secteurs.is_empty() { "aucun connu".to_owned() } else { ligne.secteurs.join(", ") };
        return Err(CommandError::invalid(
            "secteur",
            format!("{secteur:?} n'est pas un secteur de cette entrée ({secteurs})"),
        ));
    }
    Ok(SituationFranceTravailRenseignee {
        secteur,
        situation: command.situation,
        commentaire: texte("commentaire", command.commentaire, Texte::Commentaire)?,
        date_inscription: ligne.debut,
    })
}

/// Whether an advisor of `perimetre` may read the entry.
pub fn may_read(perimetre: &Perimetre, ligne: &Ligne) -> bool {
    match perimetre {
        Perimetre::Tout => true,
        Perimetre::Region(region) => ligne.region.as_deref() == Some(region.as_str()),
    }
}

/// Record an advisor's situation (a FRANCE_TRAVAIL key, or an administrator).
pub async fn renseigner(
    pool: &PgPool,
    store: &EventStore,
    viewer: &Viewer,
    channel: Channel,
    command: RenseignerSituationFt,
) -> Result<Recorded, CommandError> {
    let principal = viewer
        .require(&[Role::FranceTravail, Role::Administrateur], "renseigner une situation France Travail")?;
    let perimetre = viewer.france_travail(None)?;
    let ligne = query::une(&mut *pool.acquire().await?, &command.entree, Utc::now().date_naive()).await?;
    let entree = command.entree.clone();
    let event = decide(&perimetre, ligne.as_ref(), command)?;
    let new =
        NewEvent::new(SITUATION_FRANCE_TRAVAIL_RENSEIGNEE, serde_json::to_value(&event).expect("serialises"))
            .about(&entree)
            .occurred_at(Utc::now().date_naive())
            .with_metadata(metadata(principal.actor(), channel));
    let outcome = store
        .append(stream_id(&entree), ExpectedVersion::Any, vec![new])
        .await
        .map_err(|e| CommandError::Failed(e.to_string()))?;
    Ok(Recorded { entree, position: outcome.positions[0] })
}

#[cfg(test)]
mod tests {
    //! Given the entry as the advisor sees it, when a situation is asked, then this event or a refusal.

    use chrono::NaiveDate;
    use sqlx::types::Json;

    use super::*;

    fn ligne() -> Ligne {
        Ligne {
            entree: "p-0123456789abcdef0123456789abcdef".into(),
            active: true,
            dossier_id: "dossier-1".into(),
            debut: NaiveDate::from_ymd_opt(2026, 9, 1).expect("a day"),
            fin: None,
            fin_motif: None,
            date_de_naissance: NaiveDate::from_ymd_opt(2005, 3, 14).expect("a day"),
            region: Some("84".into()),
            departement: Some("69".into()),
            code_postal: Some("69003".into()),
            cfd: Some("50022137".into()),
            rncp: None,
            secteurs: vec!["D".into(), "G".into()],
            uai_formateur: "0693456K".into(),
            siret_formateur: "12345678901234".into(),
            position: 42,
            visible: true,
            jours: 97,
            situations: Json(Vec::new()),
        }
    }

    fn asked(secteur: &str, commentaire: Option<&str>) -> RenseignerSituationFt {
        RenseignerSituationFt {
            entree: ligne().entree,
            secteur: secteur.into(),
            situation: SituationFt::Entreprise,
            commentaire: commentaire.map(Into::into),
        }
    }

    fn field(result: Result<SituationFranceTravailRenseignee, CommandError>) -> String {
        match result {
            Err(CommandError::Invalid { field, .. }) => field,
            Err(CommandError::NotFound(message)) => message.split(' ').next().unwrap_or_default().to_owned(),
            other => panic!("refused expected: {other:?}"),
        }
    }

    #[test]
    fn a_situation_is_for_a_sector_of_the_entry_and_the_enrolment_it_looked_at() {
        let rhone = Perimetre::Region("84".into());
        let event = decide(&rhone, Some(&ligne()), asked(" g ", Some("  entretien chez un traiteur ")))
            .expect("decided");
        assert_eq!((event.secteur.as_str(), event.date_inscription), ("G", ligne().debut));
        assert_eq!(event.commentaire.as_deref(), Some("entretien chez un traiteur"));
        assert_eq!(field(decide(&rhone, Some(&ligne()), asked("M", None))), "secteur");
        let long = "x".repeat(5001);
        assert_eq!(field(decide(&rhone, Some(&ligne()), asked("D", Some(&long)))), "commentaire");
    }

    #[test]
    fn an_entry_outside_the_region_or_gone_is_not_found() {
        let paris = Perimetre::Region("11".into());
        assert_eq!(field(decide(&paris, Some(&ligne()), asked("D", None))), "entree");
        let gone = Ligne { visible: false, ..ligne() };
        assert_eq!(field(decide(&Perimetre::Tout, Some(&gone), asked("D", None))), "entree");
        assert_eq!(field(decide(&Perimetre::Tout, None, asked("D", None))), "entree");
    }
}
