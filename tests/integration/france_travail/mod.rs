//! France Travail (domain.md §12) end to end: the formations referential, and the adults enrolled
//! without a contract that FT advisors of a région follow, by sector.

pub(crate) mod file;
mod referentiel;
