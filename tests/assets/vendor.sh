#!/usr/bin/env bash
# Fetch the browser tests' own scripts from the npm registry, pinned, and check them against
# SHA256SUMS (the tests never fetch anything). axe-core is MPL-2.0 (dequelabs/axe-core); it is injected
# into the console's pages by the tests only, never served by tba.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent axe-core@4.10.2 >/dev/null
mkdir axe && tar xzf axe-core-4.10.2.tgz -C axe
cp axe/package/axe.min.js "$here/"
cp axe/package/LICENSE "$here/LICENSE.axe-core"
cd "$here" && sha256sum --check SHA256SUMS
