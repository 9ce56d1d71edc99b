//! Given the entry or the dossier a command read, when it is decided, then this event or this refusal
//! (naming the command's field). No database: the deciders are pure.

use chrono::NaiveDate;
use uuid::Uuid;

use super::*;

fn day(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

/// An entry of ML-69's queue, visible, about a rupture of the Lyon CFA's dossier `dossier-1`.
pub(in crate::app) fn ligne() -> Ligne {
    Ligne {
        entree: "p-0123456789abcdef0123456789abcdef".into(),
        active: true,
        ml_id: Some("ML-69".into()),
        dossier_id: "dossier-1".into(),
        date_rupture: day("2026-10-01"),
        sortie: None,
        sortie_motif: None,
        date_de_naissance: day("2007-03-14"),
        rqth: false,
        code_commune_insee: Some("69383".into()),
        code_postal: Some("69003".into()),
        uai_formateur: "0693456K".into(),
        siret_formateur: "12345678901234".into(),
        uai_responsable: "0693455J".into(),
        siret_responsable: "12345678900012".into(),
        situation: None,
        situation_autre: None,
        commentaire: None,
        connaissance: None,
        qualifiee_le: None,
        suivi_conjoint: false,
        probleme_type: None,
        probleme_detail: None,
        souhaite_rdv: false,
        partage_refuse: false,
        declaree: false,
        position: 42,
        jours_depuis_rupture: 20,
        visible: true,
        visible_cfa: true,
        prioritaire: false,
        nouveau_contrat: false,
        liste: "A_TRAITER".into(),
        partagee: true,
        rang: 1,
    }
}

fn ml(id: &str) -> Qui {
    Qui::MissionLocale(id.into())
}

fn cfa_lyon() -> Qui {
    Qui::Organisme("0693456K".into(), "12345678901234".into())
}

fn situation(situation: Situation, autre: Option<&str>) -> RenseignerSituation {
    RenseignerSituation {
        entree: ligne().entree,
        situation,
        situation_autre: autre.map(str::to_owned),
        commentaire: Some("  rappeler lundi ".into()),
        connaissance: Some(Connaissance::ConnuNonAccompagne),
        probleme_type: None,
        probleme_detail: None,
        souhaite_rdv: false,
    }
}

fn refused_field(outcome: Result<impl std::fmt::Debug, CommandError>) -> (String, String) {
    match outcome {
        Err(CommandError::Invalid { field, message }) => (field, message),
        other => panic!("a refusal naming a field, not {other:?}"),
    }
}

#[test]
fn a_situation_on_a_visible_entry_of_the_advisors_queue_is_recorded_for_its_rupture() {
    let decided =
        decide_situation(&ml("ML-69"), Some(&ligne()), situation(Situation::ContacteSansRetour, None))
            .expect("decided");
    assert_eq!(decided.entree, ligne().entree);
    let RuptureEvent::Situation(s) = decided.event else { panic!("a situation") };
    assert_eq!((s.mission_locale.as_str(), s.date_rupture), ("ML-69", day("2026-10-01")));
    assert_eq!(s.commentaire.as_deref(), Some("rappeler lundi"), "trimmed");
    assert_eq!(s.connaissance, Some(Connaissance::ConnuNonAccompagne));
}

#[test]
fn autre_needs_its_words_and_only_autre_has_them() {
    let (field, _) =
        refused_field(decide_situation(&ml("ML-69"), Some(&ligne()), situation(Situation::Autre, None)));
    assert_eq!(field, "situationAutre");
    let (field, message) = refused_field(decide_situation(
        &ml("ML-69"),
        Some(&ligne()),
        situation(Situation::ContacteSansRetour, Some("parti")),
    ));
    assert_eq!(field, "situationAutre");
    assert!(message.contains("seulement"), "{message}");
    let decided = decide_situation(
        &ml("ML-69"),
        Some(&ligne()),
        situation(Situation::Autre, Some(" parti à l'étranger ")),
    );
    let RuptureEvent::Situation(s) = decided.expect("decided").event else { panic!("a situation") };
    assert_eq!(s.situation_autre.as_deref(), Some("parti à l'étranger"));
}

#[test]
fn an_entry_of_another_queue_or_out_of_the_queue_is_refused_naming_the_entry() {
    let command = situation(Situation::ContacteSansRetour, None);
    let (field, message) = refused_field(decide_situation(&ml("ML-75"), Some(&ligne()), command.clone()));
    assert_eq!(field, "entree");
    assert!(message.contains("aucune entrée de votre file"), "{message}");
    let (_, message) = refused_field(decide_situation(&ml("ML-69"), None, command.clone()));
    assert!(message.contains("aucune entrée de votre file"), "{message}");
    let gone = Ligne { visible: false, ..ligne() };
    let (field, message) = refused_field(decide_situation(&ml("ML-69"), Some(&gone), command));
    assert_eq!(field, "entree");
    assert!(message.contains("n'est plus dans la file"), "{message}");
}

#[test]
fn a_problem_autre_needs_its_words_and_only_autre_has_them_and_a_wish_for_an_appointment_is_kept() {
    let mut command = situation(Situation::ContacteSansRetour, None);
    command.probleme_type = Some(ProblemeType::Autre);
    let (field, _) = refused_field(decide_situation(&ml("ML-69"), Some(&ligne()), command.clone()));
    assert_eq!(field, "problemeDetail");
    command.probleme_type = Some(ProblemeType::JeuneInjoignable);
    command.probleme_detail = Some("répondeur plein".into());
    let (field, message) = refused_field(decide_situation(&ml("ML-69"), Some(&ligne()), command.clone()));
    assert_eq!(field, "problemeDetail");
    assert!(message.contains("seulement"), "{message}");
    command.probleme_type = Some(ProblemeType::Autre);
    command.souhaite_rdv = true;
    let decided = decide_situation(&ml("ML-69"), Some(&ligne()), command).expect("decided");
    let RuptureEvent::Situation(s) = decided.event else { panic!("a situation") };
    assert_eq!(
        (s.probleme_type, s.probleme_detail.as_deref(), s.souhaite_rdv),
        (Some(ProblemeType::Autre), Some("répondeur plein"), true)
    );
}

#[test]
fn a_comment_past_its_length_or_with_control_characters_is_refused() {
    let mut command = situation(Situation::ContacteSansRetour, None);
    command.commentaire = Some("x".repeat(Texte::Commentaire.max() + 1));
    let (field, message) = refused_field(decide_situation(&ml("ML-69"), Some(&ligne()), command.clone()));
    assert_eq!(field, "commentaire");
    assert!(message.contains("5000"), "{message}");
    command.commentaire = Some("a\u{1b}b".into());
    let (_, message) = refused_field(decide_situation(&ml("ML-69"), Some(&ligne()), command));
    assert!(message.contains("contrôle"), "{message}");
}

fn suivi(motifs: &[MotifSuivi], commentaire: Option<&str>) -> DemanderSuiviConjoint {
    DemanderSuiviConjoint {
        dossier: "dossier-1".into(),
        motifs: motifs.iter().copied().collect(),
        commentaire: commentaire.map(str::to_owned),
        telephone_verifie: "06 12 34 56 78".into(),
        commentaires_motifs: Vec::new(),
        encore_au_cfa: None,
        cause_rupture: None,
        referent: None,
        email_verifie: None,
        adresse_verifiee: None,
    }
}

#[test]
fn a_cfa_asks_a_joint_follow_up_of_its_dossiers_rupture_with_a_verified_phone() {
    let decided =
        decide_suivi_conjoint(&cfa_lyon(), Some(&ligne()), suivi(&[MotifSuivi::Autre], Some("voir")))
            .expect("decided");
    let RuptureEvent::SuiviConjoint(s) = decided.event else { panic!("a joint follow-up") };
    assert_eq!((s.dossier_id.as_str(), s.date_rupture), ("dossier-1", day("2026-10-01")));
    assert_eq!(s.telephone_verifie.map(|t| t.to_string()).as_deref(), Some("0612345678"));
}

#[test]
fn a_joint_follow_up_needs_a_motif_a_comment_with_autre_a_phone_and_the_cfas_own_rupture() {
    let lyon = cfa_lyon();
    let (field, _) = refused_field(decide_suivi_conjoint(&lyon, Some(&ligne()), suivi(&[], None)));
    assert_eq!(field, "motifs");
    let (field, _) =
        refused_field(decide_suivi_conjoint(&lyon, Some(&ligne()), suivi(&[MotifSuivi::Autre], None)));
    assert_eq!(field, "commentaire");
    let mut bad_phone = suivi(&[MotifSuivi::Autre], Some("voir"));
    bad_phone.telephone_verifie = "12".into();
    let (field, _) = refused_field(decide_suivi_conjoint(&lyon, Some(&ligne()), bad_phone));
    assert_eq!(field, "telephoneVerifie");
    let paris = Qui::Organisme("0751234A".into(), "98765432109876".into());
    let command = suivi(&[MotifSuivi::Autre], Some("voir"));
    let (field, _) = refused_field(decide_suivi_conjoint(&paris, Some(&ligne()), command.clone()));
    assert_eq!(field, "dossier", "another organisme's rupture");
    let other_dossier = Ligne { dossier_id: "dossier-2".into(), ..ligne() };
    let (field, _) = refused_field(decide_suivi_conjoint(&lyon, Some(&other_dossier), command));
    assert_eq!(field, "dossier", "the entry is about another dossier of the person");
}

#[test]
fn a_request_carries_comments_per_motif_a_referent_and_verified_contacts_each_checked() {
    let mut asked = suivi(&[MotifSuivi::Logement, MotifSuivi::Sante], None);
    asked.commentaires_motifs = vec![(MotifSuivi::Logement, " hébergé chez un ami ".into())];
    asked.encore_au_cfa = Some(false);
    asked.referent = Some(ReferentDemande {
        nom: "Durand".into(),
        prenom: "Anne".into(),
        email: Some("a.durand@cfa.fr".into()),
        telephone: None,
    });
    asked.email_verifie = Some("jeune@example.fr".into());
    asked.adresse_verifiee = Some("3 rue des Lilas, 69003 Lyon".into());
    let decided = decide_suivi_conjoint(&cfa_lyon(), Some(&ligne()), asked.clone()).expect("decided");
    let RuptureEvent::SuiviConjoint(s) = decided.event else { panic!("a joint follow-up") };
    assert_eq!(
        s.commentaires_motifs.get(&MotifSuivi::Logement).map(String::as_str),
        Some("hébergé chez un ami")
    );
    assert_eq!(s.encore_au_cfa, Some(false));
    assert_eq!(s.referent.as_ref().map(|r| r.prenom.as_str()), Some("Anne"));
    assert_eq!(s.email_verifie.map(|e| e.to_string()).as_deref(), Some("jeune@example.fr"));

    let refused = |asked: DemanderSuiviConjoint| {
        refused_field(decide_suivi_conjoint(&cfa_lyon(), Some(&ligne()), asked)).0
    };
    let mut other_motif = asked.clone();
    other_motif.commentaires_motifs = vec![(MotifSuivi::Finance, "x".into())];
    assert_eq!(refused(other_motif), "commentairesMotifs");
    let mut twice = asked.clone();
    twice.commentaires_motifs = vec![(MotifSuivi::Logement, "a".into()), (MotifSuivi::Logement, "b".into())];
    assert_eq!(refused(twice), "commentairesMotifs");
    let mut nameless = asked.clone();
    nameless.referent =
        Some(ReferentDemande { nom: " ".into(), prenom: "Anne".into(), email: None, telephone: None });
    assert_eq!(refused(nameless), "referent.nom");
    let mut bad_mail = asked.clone();
    bad_mail.email_verifie = Some("pas-un-mail".into());
    assert_eq!(refused(bad_mail), "emailVerifie");
    let mut bad_phone = asked;
    bad_phone.referent = Some(ReferentDemande {
        nom: "D".into(),
        prenom: "A".into(),
        email: None,
        telephone: Some("12".into()),
    });
    assert_eq!(refused(bad_phone), "referent.telephone");
}

#[test]
fn a_cfa_refuses_to_share_its_own_dossiers_rupture_saying_why() {
    let refus = |motif: &str| RefuserPartage { dossier: "dossier-1".into(), motif: motif.into() };
    let decided =
        decide_refus(&cfa_lyon(), Some(&ligne()), refus(" suivi par notre référente ")).expect("decided");
    let RuptureEvent::PartageRefuse(r) = decided.event else { panic!("a refusal") };
    assert_eq!((r.motif.as_deref(), r.date_rupture), (Some("suivi par notre référente"), day("2026-10-01")));
    let (field, _) = refused_field(decide_refus(&cfa_lyon(), Some(&ligne()), refus("  ")));
    assert_eq!(field, "motif");
    let paris = Qui::Organisme("0751234A".into(), "98765432109876".into());
    let (field, _) = refused_field(decide_refus(&paris, Some(&ligne()), refus("non")));
    assert_eq!(field, "dossier");
}

/// The Lyon CFA's dossier with a contract from 2025-10-01 to 2026-06-30, as an ERP pushed it.
fn dossier() -> Dossier {
    let pushed = crate::ingestion::fixtures::first_push();
    Dossier::from_events(&pushed.into_iter().map(|e| (Uuid::new_v4(), e)).collect::<Vec<_>>())
}

fn lyon() -> OrganismeRef {
    "0693456K:12345678901234".parse().expect("an organisme")
}

fn declarer(date: &str) -> DeclarerRupture {
    DeclarerRupture {
        dossier: "dossier-1".into(),
        date_rupture: day(date),
        cause: Some(" démission ".into()),
    }
}

#[test]
fn a_rupture_during_the_ongoing_contract_is_recorded_against_it() {
    let event = decide_rupture(Some(&lyon()), &dossier(), day("2026-03-01"), declarer("2026-02-15"))
        .expect("decided");
    let DossierEvent::RuptureEnregistree(r) = event else { panic!("a rupture") };
    assert_eq!((r.date_debut_contrat, r.date_rupture), (day("2025-10-01"), day("2026-02-15")));
    assert_eq!(r.cause.as_deref(), Some("démission"));
}

#[test]
fn a_rupture_in_the_future_a_year_old_or_outside_any_contract_is_refused_on_its_date() {
    let today = day("2026-03-01");
    for date in ["2026-03-02", "2025-02-27", "2025-09-15"] {
        let (field, message) =
            refused_field(decide_rupture(Some(&lyon()), &dossier(), today, declarer(date)));
        assert_eq!(field, "dateRupture", "{date}: {message}");
    }
}

#[test]
fn another_organismes_dossier_or_none_is_refused_as_not_found() {
    let paris: OrganismeRef = "0751234A:98765432109876".parse().expect("an organisme");
    let today = day("2026-03-01");
    let (field, _) = refused_field(decide_rupture(Some(&paris), &dossier(), today, declarer("2026-02-15")));
    assert_eq!(field, "dossier");
    let (field, _) =
        refused_field(decide_rupture(Some(&lyon()), &Dossier::default(), today, declarer("2026-02-15")));
    assert_eq!(field, "dossier");
    assert!(decide_rupture(None, &dossier(), today, declarer("2026-02-15")).is_ok(), "an administrator may");
}

#[test]
fn a_broken_contract_cannot_break_twice() {
    let mut broken = dossier();
    let first =
        decide_rupture(Some(&lyon()), &broken, day("2026-03-01"), declarer("2026-02-15")).expect("decided");
    broken.record(Uuid::new_v4(), &first);
    let (field, _) =
        refused_field(decide_rupture(Some(&lyon()), &broken, day("2026-03-01"), declarer("2026-02-20")));
    assert_eq!(field, "dateRupture");
}
