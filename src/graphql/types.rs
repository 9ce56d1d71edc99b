//! The GraphQL scalars and enums shared by the schema's parts: `Date` (a UTC calendar day), `Statut`,
//! `Dimension`, `TrancheAge`, and the status change point. Each enum maps one-to-one onto its domain
//! type; the domain stays free of GraphQL.

use async_graphql::{Enum, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value};
use chrono::NaiveDate;
use projections::indicateurs::{Dimension as Dim, Tranche};
use projections::status::{ChangePoint, Statut as DomainStatut};

/// A UTC calendar day, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// A UTC calendar day, written `YYYY-MM-DD`.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("{text:?} n'est pas une date AAAA-MM-JJ"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// An instant, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<chrono::Utc>);

/// An instant, RFC 3339 in UTC (`2026-11-30T08:15:00.123456Z`); as input, any RFC 3339 offset.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| DateTime(t.with_timezone(&chrono::Utc)))
                .map_err(|_| InputValueError::custom(format!("{text:?} n'est pas un instant RFC 3339"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }
}

/// The status of a dossier on a day (domain rules, §5 of the product's domain description).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "projections::status::Statut")]
pub enum Statut {
    /// Inscrit sans contrat.
    Inscrit,
    /// Sous contrat d'apprentissage.
    Apprenti,
    /// Contrat rompu, sans nouveau contrat depuis (au plus 180 jours).
    Rupturant,
    /// Sorti de la formation (exclusion, ou trop longtemps sans contrat).
    Abandon,
    /// Formation terminée.
    FinDeFormation,
}

/// One point of a parcours: from `date` on, until the next point, the dossier has `statut`.
#[derive(Debug, Clone, SimpleObject)]
pub struct StatutChange {
    /// The first day of the status.
    pub date: Date,
    /// The status from that day on.
    pub statut: Statut,
}

impl From<&ChangePoint> for StatutChange {
    fn from(point: &ChangePoint) -> Self {
        StatutChange { date: Date(point.date), statut: point.statut.into() }
    }
}

/// The status on `date` of a dossier with that parcours: the last change point on or before it; before
/// the first, a single learner shows INSCRIT (nothing is counted then); `None` for a dossier without a
/// parcours (withdrawn).
pub fn statut_at(parcours: &[ChangePoint], date: NaiveDate) -> Option<DomainStatut> {
    if parcours.is_empty() {
        return None;
    }
    Some(parcours.iter().take_while(|p| p.date <= date).last().map_or(DomainStatut::Inscrit, |p| p.statut))
}

/// What indicators are grouped by (all territories by the organisme formateur's location).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "projections::indicateurs::Dimension")]
pub enum Dimension {
    /// One group for the whole country (clé "").
    National,
    /// By région (code INSEE of the région).
    Region,
    /// By département.
    Departement,
    /// By académie.
    Academie,
    /// By organisme formateur (clé `UAI:SIRET`).
    Organisme,
    /// By formation (CFD, else RNCP code).
    Formation,
    /// By European niveau (3 to 7; "" when unknown).
    Niveau,
    /// By where the figures come from: "ERP", "FICHIER" or "DECA" (domain.md §13).
    Source,
}

/// Where a dossier's figures come from (domain.md §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "projections::indicateurs::Source")]
pub enum Source {
    /// An ERP, through the API or typed events.
    Erp,
    /// A file of dossiers.
    Fichier,
    /// The national contracts base (DECA), for an organisme that never transmitted.
    Deca,
}

impl Dimension {
    pub fn domain(self) -> Dim {
        self.into()
    }
}

/// An age band on the date counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum TrancheAge {
    /// Under 18.
    Moins18,
    /// 18 to 20.
    #[graphql(name = "DE_18_A_20")]
    De18A20,
    /// 21 to 25.
    #[graphql(name = "DE_21_A_25")]
    De21A25,
    /// 26 and over.
    Plus26,
}

impl From<TrancheAge> for Tranche {
    fn from(tranche: TrancheAge) -> Self {
        match tranche {
            TrancheAge::Moins18 => Tranche::Moins18,
            TrancheAge::De18A20 => Tranche::De18a20,
            TrancheAge::De21A25 => Tranche::De21a25,
            TrancheAge::Plus26 => Tranche::Plus26,
        }
    }
}
