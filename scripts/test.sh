#!/usr/bin/env bash
# Installs the project with its test dependencies into .venv, type-checks it and runs the whole test suite.
# Usage: ./scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    # the MQTT tests start their own Mosquitto (a real broker, never one already running): install it
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q mosquitto >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q mosquitto >/dev/null; } \
            || true
    fi
    if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
        echo "error: the MQTT tests need Mosquitto and it could not be installed;" \
             "install it (Debian/Ubuntu: sudo apt install mosquitto; macOS: brew install mosquitto)" >&2
        exit 1
    fi
fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    # the benchmark report's test renders the HTML in headless Chromium (tests/bench): install it
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q chromium >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null; } \
            || true
    fi
    if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
        echo "error: the benchmark report's test needs Chromium and it could not be installed;" \
             "install it (Debian: sudo apt install chromium; Ubuntu: the chromium snap)" >&2
        exit 1
    fi
fi
[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
log=$(mktemp)
if ! pip install -q --disable-pip-version-check -e ".[test,bench]" >"$log" 2>&1; then
    grep -v "is ignored: it is neither" "$log" >&2
    echo "error: installing the project failed (log above)" >&2
    exit 1
fi
rm -f "$log"
python -c "import cosim, simulators, controllers, planner, experiments, forecasting" # fail fast if the install did not work
# type check the packages and benchmarks first (a few seconds; strict for cosim and controllers, pyproject.toml)
python -m mypy cosim controllers simulators planner experiments forecasting benchmarks
exec python -m pytest "$@"
