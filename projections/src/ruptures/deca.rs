//! DECA ruptures in the Missions Locales' queue (domain.md §13): a contract of the national base is one
//! more dossier of its apprentice's (by person key), whose rupture counts when it is one a Mission Locale
//! can act on — after the contract's start and before its planned end, with a phone or an e-mail to
//! call, the organisme and the formation known, and more than 90 days of formation left. A person with
//! a dossier from an ERP or a file is followed from those only (`entree::episodes`): the ERP's wins,
//! and the actions recorded on the person stay theirs.

use chrono::NaiveDate;
use events::RecordedEvent;
use events::deca::ContratDeca;
use events::domain::AnneeScolaire;

use super::RupturesProjection;
use super::entree::DossierFaits;
use crate::runtime::ProjectionError;
use crate::status::Faits;

/// Days of formation that must remain after a DECA rupture for it to enter the queue.
const JOURS_RESTANTS: i64 = 90;

/// Whether a contract's rupture (if any) may enter the queue; a contract without rupture always may (it
/// tells when the person is under contract).
pub fn rupture_recevable(c: &ContratDeca) -> bool {
    let Some(rupture) = c.date_rupture else { return true };
    let joignable = c.apprenti.telephone.is_some() || c.apprenti.email.is_some();
    let formation = c.cfd.is_some() || c.rncp.is_some();
    c.date_debut < rupture
        && rupture < c.date_fin_prevue
        && joignable
        && formation
        && (c.date_fin_prevue - rupture).num_days() > JOURS_RESTANTS
}

/// The `dossiers` read model's id of an entry's dossier: a DECA contract's is its dossier of the année
/// scolaire of the rupture (which exists while its organisme counts from DECA).
pub fn dossier_compte(dossier_id: &str, date_rupture: NaiveDate) -> String {
    if dossier_id.starts_with("deca-") && !dossier_id.contains(':') {
        format!("{dossier_id}:{}", AnneeScolaire::containing(date_rupture).as_str())
    } else {
        dossier_id.to_owned()
    }
}

impl RupturesProjection {
    /// What the queue needs of a DECA contract, from its stream's events (none before it was first
    /// recorded): withdrawn from the base, or with a rupture the queue does not take, it counts as a
    /// withdrawn dossier.
    pub(super) fn faits_deca(
        &self,
        stream: &str,
        events: &[&RecordedEvent],
    ) -> Result<Option<(DossierFaits, String)>, ProjectionError> {
        let states = crate::dossiers::deca::states(events)?;
        let Some(latest) = states.iter().rev().find_map(|(_, s)| s.as_ref()) else { return Ok(None) };
        let retire = states.last().is_none_or(|(_, s)| s.is_none());
        let c = &latest.contrat;
        let organisme = (c.organisme.uai.to_string(), c.organisme.siret.to_string());
        let faits = DossierFaits {
            dossier_id: stream.to_owned(),
            parcours: self.rules.parcours(&Faits::of_deca(c)),
            naissance: c.apprenti.date_de_naissance,
            rqth: false,
            code_commune_insee: c.apprenti.code_commune_insee.clone(),
            code_postal: c.apprenti.code_postal.clone(),
            retire: retire || !rupture_recevable(c),
            formateur: organisme.clone(),
            responsable: organisme,
            anciennes: Vec::new(),
            declarees: Vec::new(),
            deca: true,
        };
        Ok(Some((faits, latest.personne.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contrat(rupture: Option<&str>, fin: &str) -> ContratDeca {
        serde_json::from_value(serde_json::json!({
            "numero": "C-1",
            "siret_employeur": "55210055400013",
            "organisme": { "uai": "0693456K", "siret": "12345678901234" },
            "cfd": "50022137",
            "apprenti": { "nom": "Martin", "prenom": "Léa", "date_de_naissance": "2006-03-14",
                          "telephone": "0612345678" },
            "date_debut": "2025-09-01",
            "date_fin_prevue": fin,
            "date_rupture": rupture,
        }))
        .expect("a contract")
    }

    #[test]
    fn a_deca_rupture_enters_the_queue_only_when_a_mission_locale_can_act_on_it() {
        assert!(rupture_recevable(&contrat(Some("2026-01-10"), "2027-06-30")));
        assert!(
            rupture_recevable(&contrat(None, "2027-06-30")),
            "no rupture: the contract tells when under contract"
        );
        assert!(!rupture_recevable(&contrat(Some("2025-09-01"), "2027-06-30")), "on its first day");
        assert!(!rupture_recevable(&contrat(Some("2027-07-01"), "2027-06-30")), "after its end");
        assert!(!rupture_recevable(&contrat(Some("2027-04-01"), "2027-06-30")), "90 days or less left");
        assert!(rupture_recevable(&contrat(Some("2027-03-31"), "2027-06-30")), "91 days left");
        let mut injoignable = contrat(Some("2026-01-10"), "2027-06-30");
        injoignable.apprenti.telephone = None;
        assert!(!rupture_recevable(&injoignable), "neither phone nor e-mail");
        injoignable.apprenti.email =
            Some(events::domain::Email::parse("lea@example.org").expect("an e-mail"));
        assert!(rupture_recevable(&injoignable));
        let mut sans_formation = contrat(Some("2026-01-10"), "2027-06-30");
        sans_formation.cfd = None;
        assert!(!rupture_recevable(&sans_formation), "formation unknown");
    }
}
