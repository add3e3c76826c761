#!/usr/bin/env bash
# Builds the tracing test's OTLP receiver: a minimal OpenTelemetry Collector (the OTLP
# receiver and the debug exporter; collector/main.go, modules from the Go module proxy)
# into test/otel/bin/otelcol-test. Idempotent: does nothing when it is built and up to date.
# (Jaeger all-in-one was the first candidate: its cold build did not finish in 20 minutes here.)
set -euo pipefail
cd "$(dirname "$0")"
BIN="$PWD/bin"
mkdir -p "$BIN"
if ! command -v go >/dev/null 2>&1; then
  echo "test/otel/build.sh: Go is not installed; the OpenTelemetry test needs Go >= 1.24" >&2
  exit 1
fi
if [ ! -x "$BIN/otelcol-test" ] || [ -n "$(find collector \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$BIN/otelcol-test" -print -quit)" ]; then
  (cd collector && go build -trimpath -o "$BIN/otelcol-test" .)
  echo "built $BIN/otelcol-test"
fi
