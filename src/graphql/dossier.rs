//! `dossier(id | uai, anneeScolaire, idErpApprenant)`: one learner's file as the read model holds it
//! (dimensions, parcours, status at a date), with its identity, contacts and event history for the
//! principals allowed to read it (domain.md §9); and `dossiers(...)`, the nominative lists, by status
//! at a date within the caller's perimeter. Every read is recorded in the access log first; a dossier
//! outside the caller's perimeter is answered as absent. The identity and events of a page of
//! dossiers are loaded together (`Loaders`).

use async_graphql::{ComplexObject, Context, Error, ID, Object, SimpleObject};
use chrono::{NaiveDate, Utc};
use events::domain::{AnneeScolaire, Uai};
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::{DataLoader, Loader};
use events::RecordedEvent;
use projections::dossiers::identite;
use projections::dossiers::query::{self, DossierRow};

use sqlx::PgPool;

use super::error::{OrInternal, bad_input};
use super::indicateurs::IndicateursFiltre;
use super::loaders::Loaders;
use super::log::Evenement;
use super::types::{Date, Source, Statut, StatutChange, statut_at};

use crate::auth::access_log;
use crate::auth::viewer::{DossierScope, Viewer};

/// The largest page of a nominative list.
const MAX_LIST: i32 = 100;

/// A learner's file: one learner in one formation at one organisme for one année scolaire.
#[derive(Clone)]
pub struct Dossier {
    row: DossierRow,
}

/// A dossier's stream, to load its events.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DossierStream(pub String);

impl Loader<DossierStream> for Loaders {
    type Value = Arc<Vec<RecordedEvent>>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[DossierStream]) -> Result<HashMap<DossierStream, Self::Value>, Self::Error> {
        let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let streams = self.store.read_streams(&ids).await.or_internal().map_err(Arc::new)?;
        Ok(streams.into_iter().map(|(id, events)| (DossierStream(id), Arc::new(events))).collect())
    }
}

/// A person whose data key opens the identity kept in their dossiers' rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CleDePersonne(pub String);

impl Loader<CleDePersonne> for Loaders {
    /// Erased persons (and those without a key) are absent.
    type Value = events::personal::DataKey;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[CleDePersonne]) -> Result<HashMap<CleDePersonne, Self::Value>, Self::Error> {
        let vault = self.store.vault().ok_or_else(|| {
            Arc::new(super::error::internal("sealed personal data, and this process has no master key"))
        })?;
        let personnes: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let mut conn = self.pool.acquire().await.or_internal().map_err(Arc::new)?;
        let found = vault.keys(&mut conn, &personnes).await.or_internal().map_err(Arc::new)?;
        Ok(found.into_iter().filter_map(|(p, key)| Some((CleDePersonne(p), key?))).collect())
    }
}

/// A dossier's read-model row, for a reader whose right to it was decided elsewhere (a Mission Locale
/// reads the dossier of an entry of its queue).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DossierRowId(pub String);

impl Loader<DossierRowId> for Loaders {
    type Value = Dossier;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[DossierRowId]) -> Result<HashMap<DossierRowId, Self::Value>, Self::Error> {
        let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let rows = query::by_ids(&self.pool, &ids).await.or_internal().map_err(Arc::new)?;
        Ok(rows.into_iter().map(|row| (DossierRowId(row.dossier_id.clone()), Dossier { row })).collect())
    }
}

/// A contract of the dossier.
#[derive(Debug, SimpleObject)]
pub struct Contrat {
    /// Its first day (it identifies the contract).
    pub date_debut: Date,
    /// Its planned end.
    pub date_fin: Option<Date>,
    /// The employer's SIRET.
    pub siret_employeur: Option<String>,
    /// The first day after its rupture, if it was broken.
    pub date_rupture: Option<Date>,
    /// Why it was broken, as the organisme said.
    pub cause_rupture: Option<String>,
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
    /// Year within the programme (0 to 5, as the ERP sent it; null when it did not send one).
    pub annee_formation: Option<i32>,
}

/// Who the learner is and how to reach them: personal data. Once the person is erased, every field is
/// null (or empty) and `efface` is true.
#[derive(Debug, SimpleObject)]
#[graphql(complex)]
pub struct Apprenant {
    /// The person's personal data was erased (right to erasure, end of the retention period).
    pub efface: bool,
    /// Family name, upper case.
    pub nom: Option<String>,
    /// First names.
    pub prenom: Option<String>,
    /// Birth date.
    pub date_de_naissance: Option<Date>,
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
    async fn age(&self) -> Option<i32> {
        self.date_de_naissance
            .as_ref()
            .map(|d| projections::indicateurs::segments::age(d.0, Utc::now().date_naive()))
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

    /// The person key: a pseudonym of the learner (normalised NOM, first prénom, birth date), the same
    /// in all their dossiers; what `effacerPersonne` and `tba personnes effacer` take.
    async fn personne(&self) -> Option<&str> {
        Some(&self.row.personne)
    }

    /// Where its figures come from: an ERP, a file, or (for an organisme that never transmitted) the
    /// national contracts base (a DECA contract counts as one dossier per année scolaire it spans).
    async fn source(&self) -> Source {
        projections::indicateurs::Source::parse(&self.row.source)
            .unwrap_or(projections::indicateurs::Source::Erp)
            .into()
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

    /// Identity and contacts, as the log last recorded them (personal data: each read is recorded in
    /// the access journal, however the dossier was reached).
    async fn apprenant(&self, ctx: &Context<'_>) -> Result<Option<Apprenant>, Error> {
        super::loaders::lecture(ctx, "apprenant", &self.row.dossier_id).await?;
        if let Some(sealed) = &self.row.apprenant {
            // Kept sealed in the row: the person's key opens it, without the dossier's events.
            let loader = ctx.data::<DataLoader<Loaders>>()?;
            let key =
                loader.load_one(CleDePersonne(self.row.personne.clone())).await.map_err(|e| (*e).clone())?;
            let lue = identite::lue(sealed, key.as_ref(), &self.row.personne, &self.row.dossier_id)
                .or_internal()?;
            return Ok(Some(match lue {
                identite::Lue::Identite(i) => apprenant_of(*i),
                identite::Lue::Effacee => Apprenant::erased(),
            }));
        }
        // Else (no master key, or the person erased), the identity the log's events give.
        let events = self.events(ctx).await?;
        let identite = if self.is_deca() {
            events::deca::contrat_de(events.iter())
                .map(|c| identite::Identite::of_apprenti(&c.contrat.apprenti))
        } else {
            let dossier = events::dossier::Dossier::from_log(events.iter());
            dossier.inscription.map(|i| identite::Identite::of_personnel(&i.personnel))
        };
        Ok(identite.map(|i| i.map_or_else(Apprenant::erased, apprenant_of)))
    }

    /// Its contracts, by start day, as the log last recorded them.
    async fn contrats(&self, ctx: &Context<'_>) -> Result<Vec<Contrat>, Error> {
        let events = self.events(ctx).await?;
        if self.is_deca() {
            return Ok(events::deca::contrat_de(events.iter())
                .map(|c| Contrat {
                    date_debut: Date(c.contrat.date_debut),
                    date_fin: Some(Date(c.contrat.date_fin_prevue)),
                    siret_employeur: Some(c.contrat.siret_employeur.to_string()),
                    date_rupture: c.contrat.date_rupture.map(Date),
                    cause_rupture: c.contrat.cause_rupture,
                })
                .into_iter()
                .collect());
        }
        let dossier = events::dossier::Dossier::from_log(events.iter());
        Ok(dossier
            .contrats
            .into_values()
            .map(|c| Contrat {
                date_debut: Date(c.contrat.date_debut),
                date_fin: c.contrat.date_fin.map(Date),
                siret_employeur: c.contrat.siret_employeur.map(|s| s.to_string()),
                date_rupture: c.rupture.as_ref().map(|r| Date(r.date_rupture)),
                cause_rupture: c.rupture.and_then(|r| r.cause),
            })
            .collect())
    }

    /// Every event of the dossier, in order: what the organisme sent, and when. A corrected event
    /// names the correction that voids it (`corrigePar`), and the correction the event it voids
    /// (`corrige`) and why (`data.raison`).
    async fn evenements(&self, ctx: &Context<'_>) -> Result<Vec<Evenement>, Error> {
        Ok(super::log::linked(self.events(ctx).await?.iter().cloned()))
    }
}

impl Dossier {
    /// Its events, loaded with those of the other dossiers of the answer.
    async fn events(&self, ctx: &Context<'_>) -> Result<Arc<Vec<RecordedEvent>>, Error> {
        let loader = ctx.data::<DataLoader<Loaders>>()?;
        let events =
            loader.load_one(DossierStream(self.row.stream().to_owned())).await.map_err(|e| (*e).clone())?;
        Ok(events.unwrap_or_default())
    }

    fn is_deca(&self) -> bool {
        self.row.source == projections::indicateurs::Source::Deca.as_str()
    }

    fn scope(&self, today: NaiveDate) -> DossierScope<'_> {
        crate::app::dossiers::scope(&self.row, today)
    }
}

fn apprenant_of(i: identite::Identite) -> Apprenant {
    Apprenant {
        efface: false,
        nom: Some(i.nom),
        prenom: Some(i.prenom),
        date_de_naissance: Some(Date(i.date_de_naissance)),
        ine: i.ine,
        email: i.email,
        telephone: i.telephone,
        adresse: i.adresse,
        code_postal: i.code_postal,
        code_commune_insee: i.code_commune_insee,
        responsables_mails: i.responsables_mails,
    }
}

impl Apprenant {
    /// An erased learner: nothing that identifies them.
    fn erased() -> Apprenant {
        Apprenant {
            efface: true,
            nom: None,
            prenom: None,
            date_de_naissance: None,
            ine: None,
            email: None,
            telephone: None,
            adresse: None,
            code_postal: None,
            code_commune_insee: None,
            responsables_mails: Vec::new(),
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
            (Some(id), None, None, None) => query::by_id(pool, id.as_str()).await,
            (None, Some(uai), Some(annee), Some(id_erp)) => {
                let uai = Uai::parse(&uai).map_err(|e| bad_input("uai", e))?;
                let annee = AnneeScolaire::parse(&annee).map_err(|e| bad_input("anneeScolaire", e))?;
                let id_erp = id_erp.trim();
                if id_erp.is_empty() {
                    return Err(bad_input("idErpApprenant", "vide"));
                }
                query::by_natural_key(pool, uai.as_str(), annee.as_str(), id_erp).await
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
        let dossier = Dossier { row };
        if !viewer.may_read(pool, &dossier.scope(Utc::now().date_naive())).await? {
            return Ok(None);
        }
        let fields: Vec<String> = ctx.field().selection_set().map(|f| f.name().to_owned()).collect();
        ctx.data::<access_log::Journal>()?
            .record(principal, "dossier", &dossier.row.dossier_id, serde_json::json!({ "champs": fields }))
            .await
            .or_internal()?;
        Ok(Some(dossier))
    }

    /// The dossiers whose status on `date` (today by default) is one of `statuts`, among that date's
    /// candidates (année scolaire of its calendar year or of its school year), matching `filtre`,
    /// within the caller's perimeter; by id, at most `first` (≤ 100) after cursor `after`.
    /// ADMINISTRATEUR and AUDITOR: every dossier; an organisme: its own, formateur or responsable;
    /// DREETS, DDETS and ACADEMIE: their territory's inscrits sans contrat, rupturants and abandons
    /// (those statuses by default). Every page is recorded in the access log.
    async fn dossiers(
        &self,
        ctx: &Context<'_>,
        statuts: Option<Vec<Statut>>,
        date: Option<Date>,
        filtre: Option<IndicateursFiltre>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<Connection<String, Dossier>, Error> {
        if !(1..=MAX_LIST).contains(&first) {
            return Err(bad_input("first", format!("entre 1 et {MAX_LIST}")));
        }
        let (pool, viewer) = (ctx.data::<PgPool>()?, ctx.data::<Viewer>()?);
        let statuts = statuts.map(|s| s.into_iter().map(Into::into).collect());
        let filtre = filtre.unwrap_or_default().parse()?;
        let perimetre = crate::app::dossiers::perimetre(pool, viewer, statuts, filtre).await?;
        let date = date.map_or_else(|| Utc::now().date_naive(), |d| d.0);
        let after_id = after.clone().unwrap_or_default();
        let mut rows = crate::app::dossiers::page(
            pool,
            ctx.data::<access_log::Journal>()?,
            viewer,
            &perimetre,
            date,
            &after_id,
            i64::from(first) + 1,
        )
        .await?;
        let has_next = rows.len() > first as usize;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection
            .edges
            .extend(rows.into_iter().map(|row| Edge::new(row.dossier_id.clone(), Dossier { row })));
        Ok(connection)
    }
}
