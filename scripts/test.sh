#!/usr/bin/env bash
# Install railwatch with its test dependencies into .venv and run the whole test suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k sites`).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# The report tests open reports in headless Chromium (Debian's package); install it when missing
# and we may (root), otherwise those tests skip with the reason.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium for the report tests" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
        || echo "could not install chromium: the browser tests will skip" >&2
fi
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: treating that as a failure" >&2
fi
exit "$status"
