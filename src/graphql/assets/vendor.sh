#!/usr/bin/env bash
# Fetch the GraphiQL page's scripts and styles from the npm registry, so that the binary serves them
# itself (the machine running tba may have no internet). Run from anywhere; rewrites this folder's
# vendored files. GraphiQL is MIT-licensed (graphql/graphiql), React and ReactDOM too (facebook/react).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent graphiql@4.1.2 react@18.3.1 react-dom@18.3.1 >/dev/null
for package in graphiql-4.1.2 react-18.3.1 react-dom-18.3.1; do
    mkdir "$package" && tar xzf "$package.tgz" -C "$package"
done
cp graphiql-4.1.2/package/graphiql.min.js graphiql-4.1.2/package/graphiql.min.css "$here/"
cp react-18.3.1/package/umd/react.production.min.js "$here/"
cp react-dom-18.3.1/package/umd/react-dom.production.min.js "$here/"
cp graphiql-4.1.2/package/LICENSE "$here/LICENSE.graphiql"
cp react-18.3.1/package/LICENSE "$here/LICENSE.react"
