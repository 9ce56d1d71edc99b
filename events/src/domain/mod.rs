//! Domain values that validate themselves: once parsed, a `Uai`, a `Siret` or an `AnneeScolaire` cannot
//! hold an invalid value. Each type owns the normalisation and validation rule of domain.md §3 for its
//! field, once, with table-driven tests beside it; the ERP field rules map one-to-one onto these types.
//!
//! Error messages are in French: they are read by the ERP developers whose pushes are refused.

mod annee;
pub mod communes;
mod contact;
mod ids;
pub mod territoire;

pub use annee::AnneeScolaire;
pub use contact::{Email, Telephone};
pub use ids::{Cfd, CodeInsee, CodePostal, Ine, OrganismeRef, Rncp, Siret, Uai};

/// Why a value was refused, in words an ERP developer understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Invalid(message.into())
    }
}

/// Implements the string plumbing every domain value shares: `as_str`, `Display`, `FromStr`, serde as a
/// string that is parsed (so a value read back from the log is checked again).
macro_rules! string_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::Invalid;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_value;

/// The input without any of `separators`.
fn strip(raw: &str, separators: &[char]) -> String {
    raw.chars().filter(|c| !c.is_whitespace() && !separators.contains(c)).collect()
}
