#!/usr/bin/env python3
"""Validates an SPDX 2.3 JSON document the way an SBOM consumer would:
- against tests/report/spdx-2.3.schema.json with the jsonschema library (Draft 2020-12);
- every licence expression with spdx-expression-parse (Debian's node-spdx-expression-parse,
  which checks each identifier against the SPDX licence list);
- the document's own consistency: unique SPDXIDs, relationships that name existing elements,
  every LicenseRef- used declared once in hasExtractedLicensingInfos.
Usage: validate-spdx.py DOCUMENT.spdx.json   (exit 0: valid; 1: every problem printed)"""
import json
import os
import re
import subprocess
import sys

import jsonschema

here = os.path.dirname(os.path.abspath(__file__))
doc = json.load(open(sys.argv[1]))
schema = json.load(open(os.path.join(here, "spdx-2.3.schema.json")))
problems = []

validator = jsonschema.Draft202012Validator(schema)
for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
    problems.append("schema: %s: %s" % ("/".join(str(p) for p in e.path), e.message))

ids = [doc.get("SPDXID")] + [p.get("SPDXID") for p in doc.get("packages", [])]
seen = set()
for i in ids:
    if i in seen:
        problems.append("duplicate SPDXID %s" % i)
    seen.add(i)
for r in doc.get("relationships", []):
    for k in ("spdxElementId", "relatedSpdxElement"):
        if r.get(k) not in seen and r.get(k) not in ("NONE", "NOASSERTION"):
            problems.append("relationship names an unknown element %s" % r.get(k))
for d in doc.get("documentDescribes", []):
    if d not in seen:
        problems.append("documentDescribes names an unknown element %s" % d)

declared = [x["licenseId"] for x in doc.get("hasExtractedLicensingInfos", [])]
if len(declared) != len(set(declared)):
    problems.append("a LicenseRef is declared twice")
expressions = set()
for p in doc.get("packages", []):
    for k in ("licenseConcluded", "licenseDeclared"):
        v = p.get(k)
        if v and v not in ("NONE", "NOASSERTION"):
            expressions.add(v)
            for ref in re.findall(r"LicenseRef-[A-Za-z0-9.-]+", v):
                if ref not in declared:
                    problems.append("%s: %s is used but not declared" % (p["name"], ref))

# spdx-expression-parse throws on a malformed expression or an unknown licence identifier.
script = """
const parse = require('spdx-expression-parse');
const bad = [];
for (const e of JSON.parse(require('fs').readFileSync(0, 'utf8'))) {
        try { parse(e); } catch (err) { bad.push(e + ': ' + err.message); }
}
console.log(JSON.stringify(bad));
"""
env = dict(os.environ, NODE_PATH="/usr/share/nodejs")
out = subprocess.run(["node", "-e", script], input=json.dumps(sorted(expressions)),
                     capture_output=True, text=True, env=env)
if out.returncode != 0:
    problems.append("spdx-expression-parse did not run: " + out.stderr.strip())
else:
    problems += ["licence expression: " + b for b in json.loads(out.stdout)]

for p in problems:
    print(p)
print("%s: %d packages, %d licence expressions, %d LicenseRefs: %s" % (
    sys.argv[1], len(doc.get("packages", [])), len(expressions), len(declared),
    "valid" if not problems else "%d problem(s)" % len(problems)))
sys.exit(1 if problems else 0)
