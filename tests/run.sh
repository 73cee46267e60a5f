#!/usr/bin/env bash
# Run the whole test suite: lint, JavaScript unit tests, Python tests (models, I/O, widgets in a
# real browser) and the notebooks under nbval. Called by the README's test command after the
# package is installed into .venv; .ci/run calls that same command.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export MPLBACKEND=Agg
export EELSWIDGETS_FAST=${EELSWIDGETS_FAST:-1}          # small data and few epochs in notebooks
export BROWSER_ARTIFACTS=${BROWSER_ARTIFACTS:-$PWD/artifacts/browser}
export PYTHONHASHSEED=0
# The public EELS files (ew.datasets.realdata) are read from the local copy, never downloaded.
export EELSWIDGETS_DATA_DIR=${EELSWIDGETS_DATA_DIR:-$(cd .. && pwd)/shared/realdata}

# The browser tests drive Debian's chromium (Playwright cannot download browsers here).
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing chromium (apt-get)"
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
      || { echo "could not install chromium with apt-get"; exit 1; }
  else
    echo "chromium not found at $CHROMIUM: install it (Debian: sudo apt-get install chromium) or set CHROMIUM"
    exit 1
  fi
fi
export CHROMIUM

status=0
step() {  # step NAME CMD...: run, report, remember failure (pytest's 5 = no tests counts as failure)
  local name=$1; shift
  echo "== $name"
  local t0=$SECONDS
  "$@"; local rc=$?
  echo "== $name: exit $rc in $((SECONDS - t0)) s"
  [ $rc -ne 0 ] && status=1
  return 0
}

step "ruff" "$PY" -m ruff check .
step "javascript unit tests" node --test --test-reporter=dot js/test/
# Binder, the way repo2docker builds it: a fresh venv from binder/ alone, then the tour in it
if [ "${EELSWIDGETS_SKIP_BINDER:-0}" != 1 ]; then
  step "binder emulation" "$PY" tests/binder_emulation.py
fi
step "python tests" "$PY" -m pytest -p no:cacheprovider tests
shopt -s nullglob
notebooks=(notebooks/*.ipynb)
if [ ${#notebooks[@]} -gt 0 ]; then
  step "notebooks (nbval)" "$PY" -m pytest -p no:cacheprovider --nbval --nbval-current-env \
      --nbval-sanitize-with tests/nbval_sanitize.cfg "${notebooks[@]}"
fi
exit $status
