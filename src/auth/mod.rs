//! Who is calling: API keys and the principal they stand for (domain.md §9).

pub mod access_log;
pub mod keys;
pub mod reseaux;

pub use keys::{KeySpec, Principal, Role, Scope};
