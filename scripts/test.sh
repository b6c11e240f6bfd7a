#!/usr/bin/env bash
# Install railwatch with its test dependencies into .venv and run the whole test suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k sites`).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: treating that as a failure" >&2
fi
exit "$status"
