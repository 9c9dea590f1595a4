#!/usr/bin/env bash
# Set up .venv (Python >= 3.12) if needed and run the fast test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m slow` for the long training tests.
source "$(dirname "$0")/_env.sh" test
cd "$ROOT"
exec python -m pytest -n 2 --dist loadfile "$@"
