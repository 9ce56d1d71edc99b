//! The OpenAPI description of the REST endpoints, served at `/api/openapi.json`. Paths and schemas come
//! from the handlers' and types' annotations (the v3 dossier's from its field table in `dossiers`).

use axum::Json;
use utoipa::openapi::Server;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{dossiers, france_travail, imports, missions_locales, native, transmissions, voeux};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tba — ingestion des effectifs",
        description = "Les trois canaux par lesquels les CFA transmettent leurs effectifs : l'API v3 des ERP, \
                       les événements natifs et le dépôt de fichier ; le journal des transmissions. \
                       Chaque appel porte `Authorization: Bearer <clé d'API>`."
    ),
    paths(
        dossiers::push,
        native::append,
        imports::upload,
        transmissions::list,
        imports::report,
        missions_locales::export,
        missions_locales::export_organisme,
        france_travail::export,
        voeux::upload
    ),
    components(schemas(dossiers::DossierApprenantV3)),
    modifiers(&BearerKey),
    tags(
        (name = "ingestion", description = "Transmettre des effectifs"),
        (name = "journal", description = "Ce qui a été transmis, accepté, refusé"),
        (name = "missions-locales", description = "La file des ruptures d'une Mission Locale"),
        (name = "france-travail", description = "Les inscrits sans contrat suivis par France Travail"),
        (name = "voeux", description = "Les vœux Affelnet et Parcoursup")
    )
)]
pub struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "cle_api",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("tba_…").build(),
            ),
        );
        openapi.servers = Some(vec![Server::new("/")]);
    }
}

/// The document, as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed `openapi.json` is the contract: a change of the API shows in review as a change
    /// of that file. `UPDATE_SNAPSHOTS=1 cargo test` rewrites it.
    #[test]
    fn the_served_description_is_the_committed_one() {
        let rendered = serde_json::to_string_pretty(&document()).expect("the document serialises") + "\n";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &rendered).expect("write openapi.json");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == rendered, "openapi.json is out of date: run UPDATE_SNAPSHOTS=1 cargo test");
    }
}
