//! Ingestion: what CFAs send becomes events. `v3` validates and normalises the dossier format today's
//! ERPs speak (domain.md §3); the channels (ERP API, native events, file deposit) build on it.

pub mod deca;
pub mod diff;
pub mod digests;
pub mod fields;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod formations;
pub mod imports;
pub mod journal;
pub mod missions_locales;
pub mod native;
pub mod organismes;
pub mod referential;
pub mod reseaux;
pub mod snapshots;
pub mod v3;
pub mod voeux;
pub mod xlsx;

/// One refused field of an item, as the ERP developer reads it: where, and why (in French).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { path: path.into(), message: message.into() }
    }
}
