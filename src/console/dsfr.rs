//! The State's design system (DSFR, `@gouvfr/dsfr`, vendored under `static/dsfr/` by its `vendor.sh`:
//! the stylesheet, its fonts and the icons it names), served by tba under a versioned path, cacheable
//! for a year: a later visit loads none of it again.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

#[path = "static/dsfr/fichiers.rs"]
mod fichiers;

pub(super) async fn fichier(Path(chemin): Path<String>) -> Response {
    let Some((_, bytes)) = fichiers::FICHIERS.iter().find(|(name, _)| *name == chemin) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let kind = match chemin.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("woff2") => "font/woff2",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    ([(CONTENT_TYPE, kind), (CACHE_CONTROL, "public, max-age=31536000, immutable")], *bytes).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_the_stylesheet_names_is_served() {
        let css = std::str::from_utf8(super::fichiers::FICHIERS[0].1).expect("text");
        assert_eq!(super::fichiers::FICHIERS[0].0, "dsfr.min.css");
        for url in css.split("url(").skip(1).filter_map(|u| u.split(')').next()) {
            let url = url.trim_matches(|c| c == '"' || c == '\'');
            if url.starts_with("data:") || url.ends_with(".woff") {
                continue;
            }
            assert!(super::fichiers::FICHIERS.iter().any(|(name, _)| *name == url), "{url} is vendored");
        }
    }
}
