#!/usr/bin/env bash
# Dependency audit (checklist A8): every package requirements.txt installs, dependencies of
# dependencies included, checked with pip-audit against PyPI's advisory data. It fails on any
# known vulnerability, and (--strict) on any package it could not check, so an advisory
# service that cannot be reached never passes as "No known vulnerabilities found".
#
# One exception, said out loud: where no advisory service answers at all (machines whose
# network serves PyPI's package index but not its per-release JSON, and not OSV), the audit
# prints that it could not run and exits 0, so such a machine can still run `make test`.
# DMPORTAL_AUDIT_REQUIRED=1 turns that case into a failure too (set it where the service is
# reachable, e.g. a CI runner on the open internet).
#
# Usage: scripts/audit.sh [pip-audit options]     e.g. --format json -o var/audit.json
# A finding is fixed by raising the pin in requirements.txt; an accepted one is listed with
# --ignore-vuln <ID> here, with the reason, never silently.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_bin="${DMPORTAL_PYTHON:-$root/.venv/bin/python}"
output="$(mktemp)"
trap 'rm -f "$output"' EXIT

cd "$root"
"$python_bin" -m pip_audit \
    --requirement requirements.txt \
    --strict \
    --progress-spinner off \
    --desc on \
    "$@" >"$output" 2>&1
status=$?
cat "$output"
if [ "$status" -ne 0 ] && grep -q "could not be audited" "$output" \
    && ! grep -qE "^Found [0-9]+ known vulnerabilit" "$output"; then
    echo "dependency audit: NOT RUN - no vulnerability service could be reached from here." >&2
    if [ "${DMPORTAL_AUDIT_REQUIRED:-0}" = "1" ]; then
        exit 1
    fi
    exit 0
fi
exit "$status"
