//! The console's pages: templates checked at compile time (askama, `templates/console/`), each with
//! what it shows.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use chrono::NaiveDate;
use projections::indicateurs::Groupe;
use projections::ruptures::entree::age;
use projections::ruptures::query::{Compte, Ligne, Liste};

use crate::auth::comptes::{LONGUEUR_MIN, Session};
use crate::auth::keys::Role;

/// A page rendered with its status.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => internal(error),
    }
}

/// A page that failed: logged, and a plain page without detail.
pub fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "console page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, Html("<!doctype html><title>Erreur</title><p>Erreur interne.</p>"))
        .into_response()
}

/// The page for what the access rules refused: a value outside what the reader may ask (400, naming
/// the field), what their role may not read (403), or our failure.
pub fn refus_acces(error: crate::auth::viewer::AccessError) -> Response {
    use crate::auth::viewer::AccessError;
    match error {
        AccessError::Database(error) => internal(error),
        AccessError::BadInput { field, message } => {
            render(StatusCode::BAD_REQUEST, &Refus::libre(format!("{field} : {message}")))
        }
        AccessError::Forbidden(message) | AccessError::Unauthenticated(message) => {
            render(StatusCode::FORBIDDEN, &Refus::libre(message))
        }
    }
}

/// The role as the console names it.
pub fn role_libelle(role: Role) -> &'static str {
    match role {
        Role::OrganismeFormation => "organisme de formation",
        Role::TeteDeReseau => "tête de réseau",
        Role::Dreets => "DREETS",
        Role::Ddets => "DDETS",
        Role::Academie => "académie",
        Role::MissionLocale => "Mission Locale",
        Role::Arml => "ARML",
        Role::FranceTravail => "France Travail",
        Role::Analyst => "analyste national",
        Role::Auditor => "auditeur",
        Role::Administrateur => "administrateur",
    }
}

#[derive(Template)]
#[template(path = "console/connexion.html")]
pub struct Connexion {
    pub csrf: String,
    pub email: String,
    pub erreur: Option<String>,
    pub message: Option<String>,
}

#[derive(Template)]
#[template(path = "console/mot_de_passe.html")]
pub struct MotDePasse {
    jeton: String,
    /// The account's e-mail; none when the link serves no more.
    email: Option<String>,
    csrf: String,
    erreur: Option<String>,
    longueur: usize,
}

impl MotDePasse {
    pub fn new(jeton: String, email: Option<String>, csrf: String, erreur: Option<String>) -> Self {
        MotDePasse { jeton, email, csrf, erreur, longueur: LONGUEUR_MIN }
    }
}

/// What every page of a signed-in person shows in its header: the pages their role opens (address,
/// name), who they are, and the token of the sign-out form.
pub struct Nav {
    pub liens: Vec<(&'static str, &'static str)>,
    pub email: String,
    pub csrf: String,
}

impl Nav {
    pub fn of(session: &Session) -> Self {
        let p = &session.principal;
        let mut liens = Vec::new();
        if matches!(p.role, Role::FranceTravail | Role::Administrateur) {
            liens.push(("/console/france-travail", "France Travail"));
        }
        if matches!(p.role, Role::MissionLocale | Role::OrganismeFormation | Role::Administrateur) {
            liens.push(("/console/ruptures", "Ruptures"));
        }
        liens.push(("/console/indicateurs", "Indicateurs"));
        liens.push(("/console/entonnoir", "Vœux"));
        if matches!(
            p.role,
            Role::Administrateur
                | Role::Auditor
                | Role::OrganismeFormation
                | Role::TeteDeReseau
                | Role::Dreets
                | Role::Ddets
                | Role::Academie
        ) {
            liens.push(("/console/dossiers", "Dossiers"));
        }
        if p.organisme.is_some() {
            liens.push(("/console/effectifs", "Effectifs"));
            liens.push(("/console/transmissions", "Transmissions"));
            liens.push(("/console/depot", "Dépôt"));
            liens.push(("/console/cles", "Clés d'API"));
        }
        if matches!(p.role, Role::Auditor | Role::Administrateur) {
            liens.push(("/console/audit", "Audit"));
        }
        if session.gestionnaire || p.role == Role::Administrateur {
            liens.push(("/console/comptes", "Comptes"));
        }
        if p.role == Role::Administrateur {
            liens.push(("/console/administration", "Administration"));
        }
        Nav { liens, email: session.email.clone(), csrf: session.csrf.clone() }
    }
}

#[derive(Template)]
#[template(path = "console/accueil.html")]
pub struct Accueil {
    nav: Nav,
    role: &'static str,
    perimetre: Option<String>,
}

impl Accueil {
    pub fn of(session: &Session) -> Self {
        let p = &session.principal;
        let perimetre = p.organisme.as_ref().map(|o| format!("organisme {o}")).or_else(|| {
            p.scope.as_ref().map(|s| format!("{} {}", s.kind.to_lowercase().replace('_', " "), s.value))
        });
        Accueil { nav: Nav::of(session), role: role_libelle(p.role), perimetre }
    }
}

/// The young person as the dossier (or the DECA contract) of the entry names them.
#[derive(Debug, Clone, Default)]
pub struct Identite {
    pub nom: String,
    pub prenom: String,
    pub telephone: Option<String>,
    pub email: Option<String>,
}

/// The outcome of a form, shown on the page it returns to.
pub enum Message {
    Succes(String),
    Erreur(String),
}

/// A refusal, in words.
#[derive(Template)]
#[template(path = "console/refus.html")]
pub struct Refus {
    message: String,
}

impl Refus {
    pub fn new(message: &'static str) -> Self {
        Refus { message: message.to_owned() }
    }

    pub fn libre(message: String) -> Self {
        Refus { message }
    }
}

/// A situation as the console names it.
pub fn situation_libelle(situation: &str) -> &'static str {
    match situation {
        "RDV_PRIS" => "Rendez-vous pris",
        "NOUVEAU_PROJET" => "Nouveau projet",
        "DEJA_ACCOMPAGNE" => "Déjà accompagné",
        "CONTACTE_SANS_RETOUR" => "Contacté sans retour",
        "COORDONNEES_INCORRECT" => "Coordonnées incorrectes",
        "INJOIGNABLE_APRES_RELANCES" => "Injoignable après relances",
        "NOUVEAU_CONTRAT" => "Nouveau contrat",
        "NE_SOUHAITE_PAS_ETRE_RECONTACTE" => "Ne souhaite pas être recontacté",
        "AUTRE" => "Autre",
        "CHERCHE_CONTRAT" => "Cherche un contrat",
        "REORIENTATION" => "Réorientation",
        "NE_VEUT_PAS_ACCOMPAGNEMENT" => "Ne veut pas d'accompagnement",
        _ => "—",
    }
}

const LISTES: [(Liste, &str); 3] =
    [(Liste::ATraiter, "À traiter"), (Liste::ARecontacter, "À recontacter"), (Liste::Traites, "Traités")];

/// An entry of a list.
pub struct LigneFile {
    pub entree: String,
    pub nom: String,
    pub age: i32,
    pub date_rupture: String,
    pub jours: i32,
    pub code_postal: String,
    pub organisme: String,
    pub situation: &'static str,
    pub prioritaire: bool,
}

impl LigneFile {
    pub fn of(l: &Ligne, identite: Identite, jour: NaiveDate) -> Self {
        LigneFile {
            entree: l.entree.clone(),
            nom: format!("{} {}", identite.nom, identite.prenom).trim().to_owned(),
            age: age(l.date_de_naissance, jour),
            date_rupture: l.date_rupture.format("%d/%m/%Y").to_string(),
            jours: l.jours_depuis_rupture,
            code_postal: l.code_postal.clone().unwrap_or_default(),
            organisme: l.uai_formateur.clone(),
            situation: l.situation.as_deref().map_or("—", situation_libelle),
            prioritaire: l.prioritaire,
        }
    }
}

/// A month's (or the whole queue's) counts.
pub struct CompteFile {
    pub mois: String,
    pub total: i64,
    pub a_traiter: i64,
    pub a_recontacter: i64,
    pub traites: i64,
    pub prioritaires: i64,
}

/// The queue: counts, then one list.
#[derive(Template)]
#[template(path = "console/ruptures.html")]
pub struct File {
    nav: Nav,
    comptes: Vec<CompteFile>,
    /// (value, label, current) of each list.
    listes: Vec<(&'static str, &'static str, bool)>,
    liste: &'static str,
    cp: String,
    lignes: Vec<LigneFile>,
}

impl File {
    pub fn new(
        session: &Session,
        comptes: Vec<Compte>,
        liste: Liste,
        cp: Option<String>,
        lignes: Vec<LigneFile>,
    ) -> Self {
        let comptes = comptes
            .into_iter()
            .map(|c| CompteFile {
                mois: c.mois.unwrap_or_else(|| "Toute la file".to_owned()),
                total: c.total,
                a_traiter: c.a_traiter,
                a_recontacter: c.a_recontacter,
                traites: c.traites,
                prioritaires: c.prioritaires,
            })
            .collect();
        let listes = LISTES.iter().map(|(l, label)| (l.as_str(), *label, *l == liste)).collect();
        let libelle = LISTES.iter().find(|(l, _)| *l == liste).map_or("", |(_, label)| label);
        File { nav: Nav::of(session), comptes, listes, liste: libelle, cp: cp.unwrap_or_default(), lignes }
    }
}

/// A person's sheet, and the form to qualify their situation.
/// A group of the indicators, with the figure the page colours by.
pub struct Colonne {
    pub cle: String,
    pub libelle: String,
    pub groupe: Groupe,
}

impl Colonne {
    pub fn of(groupe: Groupe) -> Self {
        Colonne {
            cle: groupe.cle.clone(),
            libelle: groupe
                .libelle
                .clone()
                .unwrap_or_else(|| if groupe.cle.is_empty() { "inconnu".into() } else { groupe.cle.clone() }),
            groupe,
        }
    }
}

/// A month of the school year: its figure at its end, and the bar's height (percent of the largest).
pub struct Mois {
    pub libelle: String,
    pub valeur: i64,
    pub hauteur: i64,
}

/// The analyst's dashboard.
#[derive(Template)]
#[template(path = "console/indicateurs.html")]
pub struct Tableau {
    /// The address of the table's export, without its format.
    pub export: String,
    /// The address that filters by a row of the table, but for the row's key.
    pub lien_ligne: String,
    pub nav: Nav,
    pub date: String,
    pub compte: &'static str,
    pub comptes: Vec<(&'static str, &'static str)>,
    pub par: &'static str,
    pub pars: Vec<(&'static str, &'static str)>,
    pub region: String,
    pub departement: String,
    pub niveau: String,
    pub tranche: String,
    pub academie: String,
    pub organisme: String,
    pub formation: String,
    pub annee_formation: String,
    pub maille_region: bool,
    /// "As known at" (`YYYY-MM-DDTHH:MM`, UTC), or "".
    pub connu: String,
    pub national: Groupe,
    /// The map, an SVG built by `carte` (its texts escaped there).
    pub carte: String,
    pub legende: Vec<(&'static str, i64)>,
    pub territoires: Vec<Colonne>,
    pub lignes: Vec<Colonne>,
    pub mois: Vec<Mois>,
}

/// What an administrator's form did.
pub enum Issue {
    /// A link to hand over (shown once), and whether it was e-mailed.
    Lien {
        lien: String,
        envoi: Option<String>,
    },
    Erreur(String),
}

/// The administrator's accounts page.
#[derive(Template)]
#[template(path = "console/comptes.html")]
pub struct Comptes {
    csrf: String,
    nav: Nav,
    lignes: Vec<crate::auth::comptes::Ligne>,
    roles: Vec<&'static str>,
    issue: Option<Issue>,
    /// The reader administers their own organisation's accounts only.
    organisation: bool,
}

impl Comptes {
    pub fn new(
        session: &Session,
        lignes: Vec<crate::auth::comptes::Ligne>,
        roles: Vec<&'static str>,
        issue: Option<Issue>,
        organisation: bool,
    ) -> Self {
        Comptes { csrf: session.csrf.clone(), nav: Nav::of(session), lignes, roles, issue, organisation }
    }
}

/// A status as the console names it.
pub fn statut_libelle(statut: projections::status::Statut) -> &'static str {
    use projections::status::Statut;
    match statut {
        Statut::Inscrit => "Inscrit sans contrat",
        Statut::Apprenti => "Apprenti",
        Statut::Rupturant => "Rupturant",
        Statut::Abandon => "Abandon",
        Statut::FinDeFormation => "Fin de formation",
    }
}
