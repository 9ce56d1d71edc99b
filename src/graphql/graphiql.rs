//! GraphiQL, served by the binary itself: its page and the scripts and styles it needs, vendored under
//! `assets/` by `assets/vendor.sh` (GraphiQL's own page loads them from a CDN and stays blank offline).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = r#"<!doctype html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <title>tba — GraphQL</title>
  <link rel="stylesheet" href="/graphql/assets/graphiql.min.css">
  <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
</head>
<body>
  <div id="graphiql">Chargement…</div>
  <script src="/graphql/assets/react.production.min.js"></script>
  <script src="/graphql/assets/react-dom.production.min.js"></script>
  <script src="/graphql/assets/graphiql.min.js"></script>
  <script>
    const fetcher = GraphiQL.createFetcher({ url: "/graphql" });
    const defaultQuery = `# Sans clé : les indicateurs nationaux. Avec une clé, dans l'onglet Headers :
# { "Authorization": "Bearer tba_…" }
{
  indicateurs(groupBy: NATIONAL) { cle apprentis inscrits rupturants abandons apprenants }
  logHead { position hash }
}
`;
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, { fetcher, defaultQuery, defaultEditorToolsVisibility: true })
    );
  </script>
</body>
</html>
"#;

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// The vendored files, by name.
const ASSETS: [(&str, &str, &[u8]); 4] = [
    ("graphiql.min.js", "text/javascript", include_bytes!("assets/graphiql.min.js")),
    ("graphiql.min.css", "text/css", include_bytes!("assets/graphiql.min.css")),
    ("react.production.min.js", "text/javascript", include_bytes!("assets/react.production.min.js")),
    ("react-dom.production.min.js", "text/javascript", include_bytes!("assets/react-dom.production.min.js")),
];

pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, bytes)) => {
            ([(header::CONTENT_TYPE, *kind), (header::CACHE_CONTROL, "public, max-age=86400")], *bytes)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
