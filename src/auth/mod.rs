//! Who is calling: API keys, people's accounts (the console), and the principal they stand for
//! (domain.md §9).

pub mod access_log;
pub mod comptes;
mod gate;
mod key_cache;
pub mod keys;
pub mod reseaux;
pub mod viewer;

pub use gate::{AuthError, Gate};
pub use keys::{KeySpec, Principal, Role, Scope};
