//! `dossier(id | uai, anneeScolaire, idErpApprenant)`: one learner's file as the read model holds it
//! (dimensions, parcours, status at a date), with its identity, contacts and event history for the
//! principals allowed to read it (domain.md §9). Every read is recorded in the access log first; a
//! dossier outside the caller's perimeter is answered as absent.

use async_graphql::{ComplexObject, Context, Error, ID, Object, SimpleObject};
use chrono::{NaiveDate, Utc};
use events::domain::{AnneeScolaire, Uai};
use events::{EventStore, RecordedEvent};
use projections::status::ChangePoint;
use sqlx::PgPool;
use sqlx::types::Json;
use tokio::sync::OnceCell;

use super::error::{OrInternal, bad_input};
use super::log::{Evenement, MAX_STREAM};
use super::types::{Date, Statut, StatutChange, statut_at};
use super::viewer::{DossierScope, Viewer};
use crate::auth::access_log;

/// A row of `rm_dossiers`, with its organisme formateur's name.
#[derive(Debug, sqlx::FromRow)]
struct DossierRow {
    dossier_id: String,
    annee_scolaire: String,
    id_erp_apprenant: String,
    uai_formateur: String,
    siret_formateur: String,
    uai_responsable: String,
    siret_responsable: String,
    cfd: Option<String>,
    rncp: Option<String>,
    niveau: Option<i16>,
    annee_formation: Option<i16>,
    rqth: bool,
    retire: bool,
    parcours: Json<Vec<ChangePoint>>,
    departement: String,
    region: String,
    academie: String,
    position: i64,
    nom_formateur: Option<String>,
}

const SELECT: &str = "SELECT d.dossier_id, d.annee_scolaire, d.id_erp_apprenant, d.uai_formateur,
        d.siret_formateur, d.uai_responsable, d.siret_responsable, d.cfd, d.rncp, d.niveau,
        d.annee_formation, d.rqth, d.retire, d.parcours, d.departement, d.region, d.academie, d.position,
        o.nom AS nom_formateur
    FROM rm_dossiers d
    LEFT JOIN rm_organismes o ON (o.uai, o.siret) = (d.uai_formateur, d.siret_formateur)";

/// A learner's file: one learner in one formation at one organisme for one année scolaire.
pub struct Dossier {
    row: DossierRow,
    /// The dossier's events, read once for the fields that need them.
    events: OnceCell<Vec<RecordedEvent>>,
}

/// An organisme, by its UAI and SIRET.
#[derive(Debug, SimpleObject)]
pub struct OrganismeRef {
    /// UAI (7 digits and a letter).
    pub uai: String,
    /// SIRET (14 digits).
    pub siret: String,
}

/// The organisme formateur: where the learner is trained, and the territory the dossier counts in.
#[derive(Debug, SimpleObject)]
pub struct OrganismeFormateur {
    /// UAI (7 digits and a letter).
    pub uai: String,
    /// SIRET (14 digits).
    pub siret: String,
    /// Its name in the organismes referential.
    pub nom: Option<String>,
    /// Région code ("" when its département is unknown).
    pub region: String,
    /// Département code.
    pub departement: String,
    /// Académie code.
    pub academie: String,
}

/// The formation followed.
#[derive(Debug, SimpleObject)]
pub struct Formation {
    /// Code formation diplôme (8 characters).
    pub cfd: Option<String>,
    /// RNCP code (`RNCP` and 2 to 5 digits).
    pub rncp: Option<String>,
    /// European niveau (3 to 7), from the CFD.
    pub niveau: Option<i32>,
    /// Year within the programme.
    pub annee_formation: Option<i32>,
}

/// Who the learner is and how to reach them: personal data.
#[derive(Debug, SimpleObject)]
#[graphql(complex)]
pub struct Apprenant {
    /// Family name, upper case.
    pub nom: String,
    /// First names.
    pub prenom: String,
    /// Birth date.
    pub date_de_naissance: Date,
    /// Identifiant national élève.
    pub ine: Option<String>,
    /// Contact e-mail.
    pub email: Option<String>,
    /// Phone, `0XXXXXXXXX` (France) or E.164.
    pub telephone: Option<String>,
    /// Postal address.
    pub adresse: Option<String>,
    /// Residence postal code.
    pub code_postal: Option<String>,
    /// Residence commune (INSEE code).
    pub code_commune_insee: Option<String>,
    /// Legal guardians' e-mails.
    pub responsables_mails: Vec<String>,
}

#[ComplexObject]
impl Apprenant {
    /// Age in whole years today.
    async fn age(&self) -> i32 {
        projections::indicateurs::segments::age(self.date_de_naissance.0, Utc::now().date_naive())
    }
}

/// A learner's file ("dossier apprenant"): one learner in one formation at one organisme for one
/// année scolaire, as the log's events make it.
#[Object]
impl Dossier {
    /// The dossier's id (its stream in the log).
    async fn id(&self) -> ID {
        ID(self.row.dossier_id.clone())
    }

    /// The school year, `YYYY-YYYY` (1 August to 31 July; `2025-2025` for a calendar year).
    async fn annee_scolaire(&self) -> &str {
        &self.row.annee_scolaire
    }

    /// The learner's id in the organisme's software.
    async fn id_erp_apprenant(&self) -> &str {
        &self.row.id_erp_apprenant
    }

    /// Where the learner is trained; its location is the dossier's territory.
    async fn organisme_formateur(&self) -> OrganismeFormateur {
        let r = &self.row;
        OrganismeFormateur {
            uai: r.uai_formateur.clone(),
            siret: r.siret_formateur.clone(),
            nom: r.nom_formateur.clone(),
            region: r.region.clone(),
            departement: r.departement.clone(),
            academie: r.academie.clone(),
        }
    }

    /// The legal entity responsible for the training.
    async fn organisme_responsable(&self) -> OrganismeRef {
        OrganismeRef { uai: self.row.uai_responsable.clone(), siret: self.row.siret_responsable.clone() }
    }

    /// The formation followed.
    async fn formation(&self) -> Formation {
        let r = &self.row;
        Formation {
            cfd: r.cfd.clone(),
            rncp: r.rncp.clone(),
            niveau: r.niveau.map(i32::from),
            annee_formation: r.annee_formation.map(i32::from),
        }
    }

    /// Recognised disability (RQTH).
    async fn rqth(&self) -> bool {
        self.row.rqth
    }

    /// Withdrawn by its organisme (a duplicate, a mistake…): it counts nowhere.
    async fn retire(&self) -> bool {
        self.row.retire
    }

    /// The full timeline of change points.
    async fn parcours(&self) -> Vec<StatutChange> {
        self.row.parcours.0.iter().map(Into::into).collect()
    }

    /// The status on `date` (today by default); INSCRIT before the formation starts; null for a
    /// dossier without status (withdrawn).
    async fn statut(&self, date: Option<Date>) -> Option<Statut> {
        let date = date.map_or_else(|| Utc::now().date_naive(), |d| d.0);
        statut_at(&self.row.parcours.0, date).map(Into::into)
    }

    /// The log position of the last event the read model knows of this dossier.
    async fn position(&self) -> i64 {
        self.row.position
    }

    /// Identity and contacts, as the log last recorded them.
    async fn apprenant(&self, ctx: &Context<'_>) -> Result<Option<Apprenant>, Error> {
        let events = self.events(ctx).await?;
        let dossier = events::dossier::Dossier::from_recorded(events.iter()).or_internal()?;
        Ok(dossier.inscription.map(|i| {
            let p = i.personnel;
            let c = p.coordonnees;
            Apprenant {
                nom: p.nom,
                prenom: p.prenom,
                date_de_naissance: Date(p.date_de_naissance),
                ine: p.ine.map(|i| i.to_string()),
                email: c.email.map(|e| e.to_string()),
                telephone: c.telephone.map(|t| t.to_string()),
                adresse: c.adresse,
                code_postal: c.code_postal.map(|c| c.to_string()),
                code_commune_insee: c.code_commune_insee.map(|c| c.to_string()),
                responsables_mails: c.responsables_mails.iter().map(ToString::to_string).collect(),
            }
        }))
    }

    /// Every event of the dossier, in order: what the organisme sent, and when.
    async fn evenements(&self, ctx: &Context<'_>) -> Result<Vec<Evenement>, Error> {
        Ok(self.events(ctx).await?.iter().cloned().map(Into::into).collect())
    }
}

impl Dossier {
    async fn events(&self, ctx: &Context<'_>) -> Result<&Vec<RecordedEvent>, Error> {
        self.events
            .get_or_try_init(|| async {
                let store = ctx.data::<EventStore>()?;
                store.read_stream(&self.row.dossier_id, 1, MAX_STREAM).await.or_internal()
            })
            .await
    }

    fn scope(&self, today: NaiveDate) -> DossierScope<'_> {
        let r = &self.row;
        DossierScope {
            formateur: (&r.uai_formateur, &r.siret_formateur),
            responsable: (&r.uai_responsable, &r.siret_responsable),
            region: &r.region,
            departement: &r.departement,
            academie: &r.academie,
            statut: statut_at(&r.parcours.0, today),
        }
    }
}

#[derive(Default)]
pub struct DossierQuery;

#[Object]
impl DossierQuery {
    /// One dossier, by its id, or by its natural key (organisme formateur UAI, année scolaire,
    /// id_erp_apprenant); null when there is none the caller may read. Every read is recorded in the
    /// access log.
    async fn dossier(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        uai: Option<String>,
        annee_scolaire: Option<String>,
        id_erp_apprenant: Option<String>,
    ) -> Result<Option<Dossier>, Error> {
        let viewer = ctx.data::<Viewer>()?;
        let principal = viewer.principal()?;
        let pool = ctx.data::<PgPool>()?;
        let row = match (id, uai, annee_scolaire, id_erp_apprenant) {
            (Some(id), None, None, None) => {
                sqlx::query_as::<_, DossierRow>(sqlx::AssertSqlSafe(format!("{SELECT} WHERE d.dossier_id = $1")))
                    .bind(id.as_str())
                    .fetch_optional(pool)
                    .await
            }
            (None, Some(uai), Some(annee), Some(id_erp)) => {
                let uai = Uai::parse(&uai).map_err(|e| bad_input("uai", e))?;
                let annee = AnneeScolaire::parse(&annee).map_err(|e| bad_input("anneeScolaire", e))?;
                let id_erp = id_erp.trim();
                if id_erp.is_empty() {
                    return Err(bad_input("idErpApprenant", "vide"));
                }
                sqlx::query_as::<_, DossierRow>(sqlx::AssertSqlSafe(format!(
                    "{SELECT} WHERE d.uai_formateur = $1 AND d.annee_scolaire = $2 AND d.id_erp_apprenant = $3"
                )))
                .bind(uai.as_str())
                .bind(annee.as_str())
                .bind(id_erp)
                .fetch_optional(pool)
                .await
            }
            _ => {
                return Err(bad_input(
                    "id",
                    "donnez soit id, soit uai, anneeScolaire et idErpApprenant ensemble",
                ));
            }
        }
        .or_internal()?;
        let Some(row) = row else { return Ok(None) };
        let dossier = Dossier { row, events: OnceCell::new() };
        if !viewer.may_read(&dossier.scope(Utc::now().date_naive()))? {
            return Ok(None);
        }
        let fields: Vec<String> = ctx.field().selection_set().map(|f| f.name().to_owned()).collect();
        access_log::record(
            pool,
            principal,
            "dossier",
            &dossier.row.dossier_id,
            serde_json::json!({ "champs": fields }),
        )
        .await
        .or_internal()?;
        Ok(Some(dossier))
    }
}
