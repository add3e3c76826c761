#!/usr/bin/env bash
# A Python venv for the tests' real Python clients (MCP SDK, agent frameworks' schema
# converters, FastMCP's events client), from PyPI: test/python/.venv. Idempotent: rebuilt
# only when requirements.txt changed.
set -euo pipefail
cd "$(dirname "$0")"
VENV="$PWD/.venv"
REQ=requirements.txt
if [ -f "$VENV/.installed" ] && cmp -s "$REQ" "$VENV/.installed"; then exit 0; fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "test/python/build.sh: python3 is not installed; the Python client tests need Python >= 3.10 with venv" >&2
  exit 1
fi
rm -rf "$VENV"
python3 -m venv "$VENV"
if [ -n "$(grep -v '^\s*#' "$REQ" | grep -v '^\s*$' || true)" ]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
fi
cp "$REQ" "$VENV/.installed"
echo "test/python/.venv: $("$VENV/bin/python" --version), $(grep -cv '^\s*\(#\|$\)' "$REQ" || true) requirement(s)"
