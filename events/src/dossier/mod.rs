//! The dossier apprenant: one learner in one formation at one organisme for one school year, and the
//! person behind it.

mod identity;

pub use identity::{DossierKey, PersonKey, normalise_nom, normalise_prenom};
