#!/usr/bin/env bash
# Installs the project into .venv, runs the demo scenario and plots its results.
# Usage: ./scripts/demo.sh [output folder, default results/demo]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${1:-results/demo}
[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
pip install -q --disable-pip-version-check -e ".[fast]" 2>&1 | grep -v "is ignored: it is neither" || true
cosim run scenarios/demo.yaml --out "$OUT" --overwrite
cosim plot "$OUT"
echo "results, kpis.json and figures are in $OUT"
