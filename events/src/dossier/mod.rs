//! The dossier apprenant: one learner in one formation at one organisme for one school year, the
//! person behind it, the facts it records, and what those facts make of it.

mod bornes;
pub mod event;
mod identity;
mod state;

pub use event::{DecodeError, DossierEvent, SCHEMA_VERSION};
pub use identity::{DossierKey, PersonKey, normalise_nom, normalise_prenom};
pub use state::{ContratEtat, Dossier};

#[cfg(test)]
pub(crate) mod tests;
