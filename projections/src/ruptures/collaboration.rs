//! The state of the collaboration between a CFA and a Mission Locale on an entry (domain.md §11),
//! derived from what the log recorded about it by a day: whether the CFA asked for a joint follow-up,
//! and the situation the ML last recorded. Never a flag of its own: both sides read the same answer,
//! and a past day gives that day's.

use events::rupture::Situation;

/// Where the collaboration on an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collaboration {
    /// Nothing asked yet, and the ML has not reached the person.
    DemarrerCollab,
    /// The CFA asked; the ML has done nothing beyond trying to reach the person.
    CollabDemandee,
    /// The ML reached the person without being asked.
    ContacteParMlHorsCollab,
    /// The CFA asked and the ML acted on it.
    TraiteParMl,
}

impl Collaboration {
    pub fn as_str(self) -> &'static str {
        match self {
            Collaboration::DemarrerCollab => "DEMARRER_COLLAB",
            Collaboration::CollabDemandee => "COLLAB_DEMANDEE",
            Collaboration::ContacteParMlHorsCollab => "CONTACTE_PAR_ML_HORS_COLLAB",
            Collaboration::TraiteParMl => "TRAITE_PAR_ML",
        }
    }
}

/// The situations that say the ML tried and did not reach the person.
fn sans_contact(situation: Situation) -> bool {
    matches!(
        situation,
        Situation::ContacteSansRetour | Situation::CoordonneesIncorrect | Situation::InjoignableApresRelances
    )
}

/// The state, from whether the CFA asked for a joint follow-up and the ML's latest situation.
pub fn collaboration(demandee: bool, situation: Option<Situation>) -> Collaboration {
    match (demandee, situation) {
        (false, Some(s)) if !sans_contact(s) => Collaboration::ContacteParMlHorsCollab,
        (false, _) => Collaboration::DemarrerCollab,
        (true, None | Some(Situation::ContacteSansRetour)) => Collaboration::CollabDemandee,
        (true, Some(_)) => Collaboration::TraiteParMl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_request_the_ml_reaching_the_person_is_outside_the_collaboration() {
        assert_eq!(collaboration(false, None), Collaboration::DemarrerCollab);
        for tried in [
            Situation::ContacteSansRetour,
            Situation::CoordonneesIncorrect,
            Situation::InjoignableApresRelances,
        ] {
            assert_eq!(collaboration(false, Some(tried)), Collaboration::DemarrerCollab, "{tried:?}");
        }
        for reached in
            [Situation::RdvPris, Situation::DejaAccompagne, Situation::Autre, Situation::NouveauContrat]
        {
            assert_eq!(
                collaboration(false, Some(reached)),
                Collaboration::ContacteParMlHorsCollab,
                "{reached:?}"
            );
        }
    }

    #[test]
    fn a_request_is_asked_until_the_ml_does_more_than_contact_without_answer() {
        assert_eq!(collaboration(true, None), Collaboration::CollabDemandee);
        assert_eq!(collaboration(true, Some(Situation::ContacteSansRetour)), Collaboration::CollabDemandee);
        for acted in [Situation::RdvPris, Situation::CoordonneesIncorrect, Situation::NeVeutPasAccompagnement]
        {
            assert_eq!(collaboration(true, Some(acted)), Collaboration::TraiteParMl, "{acted:?}");
        }
    }

    #[test]
    fn every_state_has_the_services_name() {
        let names: Vec<&str> = [
            Collaboration::DemarrerCollab,
            Collaboration::CollabDemandee,
            Collaboration::ContacteParMlHorsCollab,
            Collaboration::TraiteParMl,
        ]
        .iter()
        .map(|c| c.as_str())
        .collect();
        assert_eq!(
            names,
            ["DEMARRER_COLLAB", "COLLAB_DEMANDEE", "CONTACTE_PAR_ML_HORS_COLLAB", "TRAITE_PAR_ML"]
        );
    }
}
