//! Affelnet / Parcoursup conversion (domain.md §8): `funnel(source, rentree, groupBy, filtre)`, the
//! stages from vœux formulés to apprentis still under contract, with rates, within the caller's
//! perimeter; and `voeuxNonConcretises`, the candidates whose vœux did not turn into an apprenticeship,
//! with their contacts, for the académies and DREETS of their territory (every read access-logged).

use std::collections::HashMap;

use async_graphql::{Context, Enum, Error, InputObject, Object, SimpleObject};
use chrono::Utc;
use events::domain::territoire::{academie_nom, region_nom};
use events::domain::{Cfd, Rncp, Uai};
use projections::voeux::query::{self, Campagne, Filtre, Groupe, NonConcretise, VoeuLigne};
use sqlx::PgPool;

use super::error::{OrInternal, bad_input};
use super::types::Date;
use crate::auth::viewer::{Perimetre, Viewer};

/// Where the vœux were formulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "events::voeu::Source")]
pub enum SourceVoeux {
    /// After the 3e, for CAP and Bac pro.
    Affelnet,
    /// Post-bac apprenticeship applications.
    Parcoursup,
}

/// What a funnel is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "projections::voeux::query::Dimension")]
pub enum DimensionVoeux {
    /// One group, the whole campaign (its key is "").
    National,
    /// The académie of the vœux' file.
    Academie,
    /// The région of that académie.
    Region,
    /// The organisme targeted (UAI of the formateur).
    Organisme,
    /// The formation targeted (the source's key).
    Formation,
}

/// Which vœux count: each list holds alternatives, the lists given must all match. The caller's
/// perimeter is added to it.
#[derive(Debug, Default, InputObject)]
pub struct FunnelFiltre {
    /// Académies (code, e.g. "10").
    pub academies: Option<Vec<String>>,
    /// Régions (code, e.g. "84").
    pub regions: Option<Vec<String>>,
    /// Organismes targeted, by UAI (formateur or responsable).
    pub organismes: Option<Vec<String>>,
    /// Formations: the source's key, a CFD or an RNCP code.
    pub formations: Option<Vec<String>>,
}

impl FunnelFiltre {
    fn parse(self) -> Result<Filtre, Error> {
        let known = |values: Option<Vec<String>>, field: &str, name: fn(&str) -> Option<&'static str>| {
            values
                .unwrap_or_default()
                .into_iter()
                .map(|v| {
                    let v = v.trim().to_owned();
                    name(&v).map(|_| v.clone()).ok_or_else(|| bad_input(field, format!("{v:?} est inconnu")))
                })
                .collect::<Result<Vec<_>, Error>>()
        };
        let organismes = self
            .organismes
            .unwrap_or_default()
            .into_iter()
            .map(|o| Uai::parse(&o).map(|u| u.to_string()).map_err(|e| bad_input("filtre.organismes", e)))
            .collect::<Result<Vec<_>, Error>>()?;
        let formations = self
            .formations
            .unwrap_or_default()
            .into_iter()
            .map(|f| {
                let f = f.trim();
                if f.is_empty() {
                    return Err(bad_input("filtre.formations", "une formation vide ne désigne rien"));
                }
                Ok(Cfd::parse(f)
                    .map(|c| c.to_string())
                    .or_else(|_| Rncp::parse(f).map(|r| r.to_string()))
                    .unwrap_or_else(|_| f.to_owned()))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Filtre {
            academies: known(self.academies, "filtre.academies", academie_nom)?,
            regions: known(self.regions, "filtre.regions", region_nom)?,
            organismes,
            formations,
        })
    }
}

/// The funnel of one group.
#[derive(Debug, SimpleObject)]
pub struct FunnelGroupe {
    /// The group's code: académie, région, UAI or formation key; "" for the whole campaign.
    pub cle: String,
    /// The group's name, where one is known: académies and régions from the reference tables,
    /// organismes from the referential, formations as most of the campaign's vœux files name them.
    pub libelle: Option<String>,
    /// Vœux formulés (not withdrawn).
    pub voeux: i64,
    /// Distinct candidates.
    pub candidats: i64,
    /// Candidates with a dossier at an organisme they targeted, for the rentrée's school year.
    pub inscrits: i64,
    /// Inscrits whose contract started (by the date asked).
    pub apprentis: i64,
    /// Apprentis still under contract, without a break, `jours` days after their contract started.
    pub maintenus: i64,
    /// inscrits / candidats (null when there is no candidate).
    pub taux_inscription: Option<f64>,
    /// apprentis / inscrits.
    pub taux_apprentissage: Option<f64>,
    /// maintenus / apprentis.
    pub taux_maintien: Option<f64>,
    /// apprentis / candidats: how many candidates became apprentices.
    pub taux_conversion: Option<f64>,
}

fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl FunnelGroupe {
    /// The group, named from the reference tables (académies, régions) or `libelles` (the others).
    fn of(g: Groupe, dimension: query::Dimension, libelles: &mut HashMap<String, String>) -> Self {
        let libelle = match dimension {
            query::Dimension::Academie => academie_nom(&g.cle).map(str::to_owned),
            query::Dimension::Region => region_nom(&g.cle).map(str::to_owned),
            _ => libelles.remove(&g.cle),
        };
        FunnelGroupe {
            taux_inscription: rate(g.inscrits, g.candidats),
            taux_apprentissage: rate(g.apprentis, g.inscrits),
            taux_maintien: rate(g.maintenus, g.apprentis),
            taux_conversion: rate(g.apprentis, g.candidats),
            cle: g.cle,
            libelle,
            voeux: g.voeux,
            candidats: g.candidats,
            inscrits: g.inscrits,
            apprentis: g.apprentis,
            maintenus: g.maintenus,
        }
    }
}

/// How far a candidate got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum EtapeVoeux {
    /// No dossier at any organisme they targeted.
    Candidat,
    /// A dossier, but no contract yet.
    Inscrit,
}

/// A vœu of a candidate.
#[derive(Debug, SimpleObject)]
pub struct VoeuCandidat {
    /// The vœu's id.
    pub id: String,
    /// UAI of the organisme formateur targeted.
    pub uai_formateur: String,
    /// UAI of the organisme responsable, when the file gives it.
    pub uai_responsable: Option<String>,
    /// The source's formation key.
    pub formation: String,
    /// CFD of the formation, when the file gives it.
    pub cfd: Option<String>,
    /// RNCP code of the formation, when the file gives it.
    pub rncp: Option<String>,
    /// The formation's name, when the file gives it.
    pub libelle_formation: Option<String>,
    /// The candidate's order of preference (Affelnet).
    pub rang: Option<i32>,
    /// Whether a dossier of the candidate matches this vœu.
    pub inscrit: bool,
}

/// A candidate whose vœux did not turn into an apprenticeship, with their contacts (as their latest
/// vœu's file gave them).
#[derive(Debug, SimpleObject)]
pub struct CandidatNonConcretise {
    /// The candidate's id (a pseudonym, the same in every file of the source).
    pub id: String,
    /// How far they got.
    pub etape: EtapeVoeux,
    /// The académie of their vœux' file.
    pub academie: String,
    /// Nom.
    pub nom: String,
    /// Prénoms, the first first, comma-separated.
    pub prenoms: String,
    /// Birth date, when the file gives it.
    pub date_de_naissance: Option<Date>,
    /// INE, when the file gives it.
    pub ine: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub telephone: Option<String>,
    /// A legal guardian's e-mail.
    pub email_responsable: Option<String>,
    /// A legal guardian's phone.
    pub telephone_responsable: Option<String>,
    /// Postal code of the residence.
    pub code_postal: Option<String>,
    /// Their vœux in the campaign, by rang.
    pub voeux: Vec<VoeuCandidat>,
}

impl CandidatNonConcretise {
    fn of(c: NonConcretise) -> Option<Self> {
        let who: &VoeuLigne = c.voeux.first()?;
        Some(CandidatNonConcretise {
            id: c.candidat.clone(),
            etape: if c.inscrit { EtapeVoeux::Inscrit } else { EtapeVoeux::Candidat },
            academie: who.academie.clone(),
            nom: who.nom.clone(),
            prenoms: who.prenoms.clone(),
            date_de_naissance: who.date_de_naissance.map(Date),
            ine: who.ine.clone(),
            email: who.email.clone(),
            telephone: who.telephone.clone(),
            email_responsable: who.email_responsable.clone(),
            telephone_responsable: who.telephone_responsable.clone(),
            code_postal: who.code_postal.clone(),
            voeux: c
                .voeux
                .into_iter()
                .map(|v| VoeuCandidat {
                    id: v.voeu,
                    uai_formateur: v.uai_formateur,
                    uai_responsable: v.uai_responsable,
                    formation: v.formation,
                    cfd: v.cfd,
                    rncp: v.rncp,
                    libelle_formation: v.libelle_formation,
                    rang: v.rang,
                    inscrit: v.dossier_id.is_some(),
                })
                .collect(),
        })
    }
}

/// A page of candidates "non concrétisés", in id order.
#[derive(Debug, SimpleObject)]
pub struct CandidatsNonConcretises {
    /// The page.
    pub candidats: Vec<CandidatNonConcretise>,
    /// The cursor to ask for the next page (`after`); null on the last page.
    pub suivant: Option<String>,
}

/// Largest page of candidates.
const MAX_FIRST: i32 = 500;

/// The funnel's filter narrowed to the caller's perimeter.
fn restrict(perimetre: Perimetre, filtre: Filtre) -> Result<Filtre, Error> {
    Ok(perimetre.restrict_voeux(filtre)?)
}

fn campagne(source: SourceVoeux, rentree: i32) -> Result<Campagne, Error> {
    if !(2000..=2100).contains(&rentree) {
        return Err(bad_input("rentree", format!("{rentree} n'est pas une année de rentrée")));
    }
    Ok(Campagne { source: source.into(), rentree })
}

#[derive(Default)]
pub struct VoeuxQuery;

#[Object]
impl VoeuxQuery {
    /// The conversion funnel of a campaign (source and rentrée year) on `date` (today by default, UTC):
    /// vœux formulés → candidats → inscrits → apprentis → still under contract `jours` days (90 by
    /// default) after their contract started, one group per value of `groupBy` that has vœux, in the
    /// order of their keys. A candidate counts once in each group their vœux fall in.
    #[allow(clippy::too_many_arguments)]
    async fn funnel(
        &self,
        ctx: &Context<'_>,
        source: SourceVoeux,
        rentree: i32,
        #[graphql(default_with = "Some(DimensionVoeux::National)")] group_by: Option<DimensionVoeux>,
        filtre: Option<FunnelFiltre>,
        #[graphql(default = 90)] jours: i32,
        date: Option<Date>,
    ) -> Result<Vec<FunnelGroupe>, Error> {
        let pool = ctx.data::<PgPool>()?;
        let viewer = ctx.data::<Viewer>()?;
        viewer.principal()?;
        let campagne = campagne(source, rentree)?;
        if !(0..=3650).contains(&jours) {
            return Err(bad_input("jours", format!("{jours} n'est pas un nombre de jours de 0 à 3650")));
        }
        let filtre = restrict(viewer.perimetre(pool).await?, filtre.unwrap_or_default().parse()?)?;
        let dimension: query::Dimension = group_by.unwrap_or(DimensionVoeux::National).into();
        let date = date.map_or_else(|| Utc::now().date_naive(), |d| d.0);
        let mut conn = pool.acquire().await.or_internal()?;
        let groupes =
            query::funnel(&mut conn, campagne, dimension, &filtre, date, jours).await.or_internal()?;
        let cles: Vec<String> = groupes.iter().map(|g| g.cle.clone()).collect();
        let mut libelles = query::libelles(&mut conn, campagne, dimension, &cles).await.or_internal()?;
        Ok(groupes.into_iter().map(|g| FunnelGroupe::of(g, dimension, &mut libelles)).collect())
    }

    /// The candidates of a campaign whose vœux did not turn into an apprenticeship by `date` (today by
    /// default): no dossier at an organisme they targeted, or a dossier without a contract; with their
    /// contacts and vœux. Each candidate is judged on all their vœux of the campaign, wherever they are;
    /// a list by académie holds the candidates with a vœu there, with their vœux there. For ACADEMIE and
    /// DREETS keys (their territory's académies), ADMINISTRATEUR and AUDITOR; `academies` narrows.
    /// Every page read is recorded in the access log.
    #[allow(clippy::too_many_arguments)]
    async fn voeux_non_concretises(
        &self,
        ctx: &Context<'_>,
        source: SourceVoeux,
        rentree: i32,
        academies: Option<Vec<String>>,
        date: Option<Date>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<CandidatsNonConcretises, Error> {
        let pool = ctx.data::<PgPool>()?;
        let viewer = ctx.data::<Viewer>()?;
        let campagne = campagne(source, rentree)?;
        if !(1..=MAX_FIRST).contains(&first) {
            return Err(bad_input("first", format!("{first} n'est pas entre 1 et {MAX_FIRST}")));
        }
        let asked = academies.unwrap_or_default();
        let date = date.map_or_else(|| Utc::now().date_naive(), |d| d.0);
        let (page, more) = crate::app::voeux::non_concretises(
            pool,
            ctx.data::<crate::auth::access_log::Journal>()?,
            viewer,
            campagne,
            &asked,
            date,
            crate::app::voeux::Page { first: i64::from(first), after: after.as_deref() },
        )
        .await?;
        let suivant = if more { page.last().map(|c| c.candidat.clone()) } else { None };
        Ok(CandidatsNonConcretises {
            candidats: page.into_iter().filter_map(CandidatNonConcretise::of).collect(),
            suivant,
        })
    }
}
