//! The indicators "à date" of domain.md §6: for any day D, how many dossiers are apprentis, inscrits,
//! rupturants, abandons and apprenants, grouped and filtered by territory, organisme, formation, niveau,
//! age band and année de formation, without reading every dossier.
//!
//! `segments` says on which days a dossier counts and how; `cubes` keeps the counts per cell and day as
//! monthly or weekly prefix sums, maintained by the `dossiers` projection (its batches write the changes as
//! pending, in the same transaction as its rows; `cubes::settle` folds them into the sums);
//! `query` answers from the smallest cube that holds the query's dimensions.

mod ancrage;
pub mod connu;
pub mod cubes;
pub mod historique;
pub mod query;
pub mod segments;
pub mod versions;

pub use cubes::{Comptage, Deltas, Dimensions};
pub use query::{Dimension, Filtre, Groupe, Source, indicateurs, plan};
pub use segments::Tranche;
