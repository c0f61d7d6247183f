#!/usr/bin/env bash
# Installs the project into .venv, runs the demo scenario and plots its results.
# Usage: ./scripts/demo.sh [output folder, default results/demo]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${1:-results/demo}
[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
log=$(mktemp)
if ! pip install -q --disable-pip-version-check -e ".[fast]" >"$log" 2>&1; then
    grep -v "is ignored: it is neither" "$log" >&2
    echo "error: installing the project failed (log above)" >&2
    exit 1
fi
rm -f "$log"
cosim run scenarios/demo.yaml --out "$OUT" --overwrite
cosim plot "$OUT"
echo "results, kpis.json and figures are in $OUT"
