//! An organisme of a synthetic data set, as the generators of dossiers and of vœux share it.

/// An organisme of the synthetic referential.
#[derive(Debug, Clone)]
pub struct DemoOrganisme {
    pub uai: String,
    pub siret: String,
    pub nom: String,
    pub code_commune_insee: String,
    pub code_postal: String,
    pub departement: String,
    pub nature: &'static str,
    /// The responsable of a formateur-only site (an index into the organismes); itself otherwise.
    pub responsable: usize,
}
