//! The read side of the log: the status engine (a pure function of a dossier's facts), and, built on it,
//! the projectors and read models that turn the log into what analysts, Missions Locales and auditors
//! query. Depends on `events` only; knows nothing of HTTP or GraphQL.

pub mod admission;
pub mod build;
pub mod copy;
pub mod dossiers;
pub mod fold;
pub mod france_travail;
pub mod indicateurs;
pub mod runtime;
pub mod ruptures;
pub mod status;
#[cfg(test)]
mod test_support;
pub mod voeux;
