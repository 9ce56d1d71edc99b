//! The nominative list of dossiers as every adapter reads it (GraphQL's `dossiers`, the console's
//! list and export): who may read which dossiers (domain.md §9), a page of them, each page recorded
//! in the access journal.

use chrono::NaiveDate;
use projections::dossiers::query::{self, DossierRow};
use projections::indicateurs::Filtre;
use projections::indicateurs::segments::candidates;
use projections::status::Statut;
use sqlx::PgPool;

use crate::auth::Role;
use crate::auth::access_log;
use crate::auth::viewer::{AccessError, DossierScope, Viewer};

/// What the territorial services read: those without a contract, in rupture or gone.
pub const SIGNALES: [Statut; 3] = [Statut::Inscrit, Statut::Rupturant, Statut::Abandon];

/// The dossiers a caller lists: the statuses asked, the filter within their perimeter, and whose
/// dossiers (an organisme's own, a réseau's organismes as responsable, else every one of the filter).
#[derive(Debug, Clone)]
pub struct Perimetre {
    pub statuts: Vec<Statut>,
    pub filtre: Filtre,
    pub organisme: Option<(String, String)>,
    pub responsables: Vec<String>,
    /// DREETS, DDETS or académie: only `SIGNALES`.
    pub territorial: bool,
}

/// Who may list which dossiers: ADMINISTRATEUR and AUDITOR every dossier; an organisme its own,
/// formateur or responsable; a réseau those its organismes are responsable of; DREETS, DDETS and
/// ACADEMIE their territory's inscrits sans contrat, rupturants and abandons (those statuses by
/// default); nobody else.
pub async fn perimetre(
    pool: &PgPool,
    viewer: &Viewer,
    statuts: Option<Vec<Statut>>,
    filtre: Filtre,
) -> Result<Perimetre, AccessError> {
    let principal = viewer.require(
        &[
            Role::Administrateur,
            Role::Auditor,
            Role::OrganismeFormation,
            Role::TeteDeReseau,
            Role::Dreets,
            Role::Ddets,
            Role::Academie,
        ],
        "lire une liste nominative de dossiers",
    )?;
    let territorial = matches!(principal.role, Role::Dreets | Role::Ddets | Role::Academie);
    let statuts = match statuts {
        Some(statuts) => statuts,
        None if territorial => SIGNALES.to_vec(),
        None => Statut::ALL.to_vec(),
    };
    if territorial && statuts.iter().any(|s| !SIGNALES.contains(s)) {
        return Err(AccessError::Forbidden(format!(
            "statuts : une clé {} ne lit que les inscrits sans contrat, les rupturants et les abandons",
            principal.role.as_str()
        )));
    }
    let (filtre, responsables) = match principal.role {
        Role::OrganismeFormation => (filtre, Vec::new()),
        Role::TeteDeReseau => (filtre, viewer.reseau(pool).await?),
        _ => (viewer.perimetre(pool).await?.restrict(filtre, false)?, Vec::new()),
    };
    let organisme = principal.organisme.as_ref().map(|o| (o.uai.to_string(), o.siret.to_string()));
    Ok(Perimetre { statuts, filtre, organisme, responsables, territorial })
}

/// A page of the dossiers of `perimetre` whose status on `date` is one of its statuses, by id, at
/// most `limit` after `after`; a page that is not empty is recorded in the access journal.
pub async fn page(
    pool: &PgPool,
    journal: &access_log::Journal,
    viewer: &Viewer,
    perimetre: &Perimetre,
    date: NaiveDate,
    after: &str,
    limit: i64,
) -> Result<Vec<DossierRow>, AccessError> {
    let annees: Vec<String> = candidates(date).iter().map(ToString::to_string).collect();
    let statuts: Vec<&str> = perimetre.statuts.iter().map(|s| s.as_str()).collect();
    let liste = query::Liste {
        annees: &annees,
        date,
        statuts: &statuts,
        filtre: &perimetre.filtre,
        organisme: perimetre.organisme.as_ref().map(|(uai, siret)| (uai.as_str(), siret.as_str())),
        responsables: &perimetre.responsables,
        after,
        limit,
    };
    let rows = query::liste(pool, &liste).await?;
    if !rows.is_empty() {
        let ids: Vec<&str> = rows.iter().map(|r| r.dossier_id.as_str()).collect();
        let subject = format!("{} au {date}", statuts.join(","));
        let details = serde_json::json!({ "dossiers": ids, "filtre": format!("{:?}", perimetre.filtre) });
        journal.record(viewer.principal()?, "dossiers", &subject, details).await?;
    }
    Ok(rows)
}

/// What the access rules look at in a dossier, on `today`.
pub fn scope(r: &DossierRow, today: NaiveDate) -> DossierScope<'_> {
    DossierScope {
        formateur: (&r.uai_formateur, &r.siret_formateur),
        responsable: (&r.uai_responsable, &r.siret_responsable),
        region: &r.region,
        departement: &r.departement,
        academie: &r.academie,
        statut: projections::status::statut_at(&r.parcours.0, today),
    }
}

/// The dossier `id` if the caller may read it (none when there is none or it is out of their reach).
pub async fn lisible(pool: &PgPool, viewer: &Viewer, id: &str) -> Result<Option<DossierRow>, AccessError> {
    let Some(row) = query::by_id(pool, id).await? else { return Ok(None) };
    let today = chrono::Utc::now().date_naive();
    Ok(viewer.may_read(pool, &scope(&row, today)).await?.then_some(row))
}
