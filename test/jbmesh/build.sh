#!/usr/bin/env bash
# Builds the jb-mesh fixtures (cmd/node, cmd/caller) and a current nats-server
# (v2.12.x, from the Go module proxy) into test/jbmesh/bin/, and a Python venv
# with nats-py (from PyPI) into bin/py for the jb-service attach_file writer.
# Idempotent: does nothing when everything is built and up to date.
set -euo pipefail
cd "$(dirname "$0")"
NATS_SERVER_VERSION=v2.12.15
BIN="$PWD/bin"
mkdir -p "$BIN"

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: Go is not installed; the jb-mesh interop tests need Go >= 1.25" >&2
  exit 1
fi

stale=0
for b in node caller; do
  if [ ! -x "$BIN/$b" ] || [ -n "$(find . -path ./bin -prune -o \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$BIN/$b" -print -quit)" ]; then
    stale=1
  fi
done
if [ "$stale" = 1 ]; then
  go build -trimpath -o "$BIN/" ./cmd/node ./cmd/caller
  echo "built $BIN/node $BIN/caller"
fi

if ! "$BIN/nats-server" --version 2>/dev/null | grep -q "${NATS_SERVER_VERSION#v}"; then
  # -mod=mod and an explicit version: installs from the proxy, not this module's go.mod.
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "github.com/nats-io/nats-server/v2@${NATS_SERVER_VERSION}"
  echo "installed $("$BIN/nats-server" --version)"
fi

# The Python side of attach_file (jb-service writes through nats-py).
PY="$BIN/py"
REQ=python/requirements.txt
if [ ! -f "$PY/.installed" ] || ! cmp -s "$REQ" "$PY/.installed"; then
  if ! command -v python3 >/dev/null 2>&1; then
    echo "build.sh: python3 is not installed; the attach_file fixture needs Python >= 3.9 with venv" >&2
    exit 1
  fi
  rm -rf "$PY"
  python3 -m venv "$PY"
  "$PY/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$PY/.installed"
  echo "installed $("$PY/bin/python" -c 'import importlib.metadata as m; print("nats-py", m.version("nats-py"))') into $PY"
fi
