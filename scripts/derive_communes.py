#!/usr/bin/env python3
"""Derive data/communes.csv, the communes the binary embeds, from the open data of the npm package
@etalab/decoupage-administratif (its data/communes.json: INSEE's Code officiel géographique with La Poste's
postal codes, Licence Ouverte / Open Licence; the package itself is MIT).

Usage: python3 scripts/derive_communes.py [VERSION]   (default 6.0.0; needs npm and the npm registry)

One row per INSEE code a residence may carry: every current commune, every municipal arrondissement (Paris,
Lyon, Marseille), every commune déléguée or associée and every former code of a merged commune, each with
the current commune it belongs to (`commune`), so that a young person is placed by the commune that a
Mission Locale's territory lists. Columns: code,nom,departement,commune,codes_postaux (space-separated).
"""

import csv
import json
import pathlib
import subprocess
import sys
import tarfile
import tempfile

version = sys.argv[1] if len(sys.argv) > 1 else "6.0.0"
out = pathlib.Path(__file__).resolve().parent.parent / "data" / "communes.csv"

with tempfile.TemporaryDirectory() as work:
    name = subprocess.run(
        ["npm", "pack", "--silent", f"@etalab/decoupage-administratif@{version}"],
        cwd=work, check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    with tarfile.open(pathlib.Path(work) / name) as archive:
        communes = json.load(archive.extractfile("package/data/communes.json"))

rows = {}
def add(code, nom, departement, commune, postaux):
    rows.setdefault(code, (code, nom, departement, commune, " ".join(sorted(set(postaux)))))

# The most specific meaning of a code wins: current communes, then arrondissements, then the rest.
rank = {"commune-actuelle": 0, "arrondissement-municipal": 1, "commune-deleguee": 2, "commune-associee": 3}
current = {c["code"]: c for c in communes if c["type"] == "commune-actuelle"}
for c in sorted(communes, key=lambda c: rank[c["type"]]):
    parent = {"commune-actuelle": c["code"], "arrondissement-municipal": c.get("commune")}.get(
        c["type"], c.get("chefLieu"))
    postaux = c.get("codesPostaux") or current.get(parent, {}).get("codesPostaux", [])
    add(c["code"], c["nom"], c["departement"], parent, postaux)
for c in current.values():
    for old in c.get("anciensCodes", []):
        add(old, c["nom"], c["departement"], c["code"], c.get("codesPostaux", []))

with out.open("w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(["code", "nom", "departement", "commune", "codes_postaux"])
    writer.writerows(sorted(rows.values()))
print(f"{out}: {len(rows)} codes from @etalab/decoupage-administratif@{version}")
