#!/usr/bin/env bash
# Does running Swift concurrency on NIO's event loops help? One SQLite node, started alternately
# with the NIO executor installed (the default) and without it (CELLBASE_NIO_EXECUTOR=0), on the
# same data directory; each start measures /health/live and the REST read by id. Three rounds of
# each, medians reported. Writes benchmarks/results/executor.md.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap stop_services EXIT

ROUNDS=3
ROWS=1000
WRK_SECONDS=10

apt_install curl ca-certificates wrk
mkdir -p "$RAW_DIR"
: >"$COMMANDS_FILE"
build_release
DATA="$CELLBASE_TMP/data"

# start_node MODE: starts the node with CELLBASE_NIO_EXECUTOR=MODE; sets NODE_PID and CELLBASE_URL_NODE.
start_node() {
    CELLBASE_NIO_EXECUTOR=$1 start_cellbase NODE "$DATA"
    NODE_PID=${CELLBASE_PIDS[-1]}
}
stop_node() { kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true; }

start_node 1
created=$(setup project "$CELLBASE_URL_NODE" "$(admin_token "$DATA")" bench_items "$ITEMS_SQL")
read -r _ ANON SERVICE <<<"$created"
setup load "$CELLBASE_URL_NODE" "$SERVICE" items 1 "$ROWS"
setup check "$CELLBASE_URL_NODE" "$ANON" "$ROWS"
stop_node

for round in $(seq 1 "$ROUNDS"); do
    for mode in 1 0; do
        start_node "$mode"
        run_wrk "executor$mode-health-$round" "$CELLBASE_URL_NODE/health/live" health.lua
        run_wrk "executor$mode-read-$round" "$CELLBASE_URL_NODE/rest/v1/items" read.lua "$ANON" "$ROWS"
        require_clean "executor$mode-health-$round"
        require_clean "executor$mode-read-$round"
        stop_node
    done
done

median() { # median RUN_PREFIX: the median rps over the rounds
    for round in $(seq 1 "$ROUNDS"); do result "$1-$round" rps; done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

{
    echo "# NIO event loops as the Swift concurrency executor"
    echo
    echo "Measured by \`benchmarks/executor.sh\` in one run: $(machine_line)."
    echo "One SQLite node on the same data ($ROWS rows), restarted alternately with and without"
    echo "\`NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()\`;"
    echo "wrk with $WRK_THREADS threads and $WRK_CONNECTIONS connections for $WRK_SECONDS s; medians of $ROUNDS rounds, every answer 2xx."
    echo
    echo "| measurement | NIO executor (default) | Swift's global executor | ratio |"
    echo "|---|---|---|---|"
    for what in health read; do
        on=$(median "executor1-$what")
        off=$(median "executor0-$what")
        label=$([ "$what" = health ] && echo '`GET /health/live`' || echo 'REST read by id (`GET /rest/v1/items?id=eq.N`)')
        echo "| $label | $(fmt "$on") req/s | $(fmt "$off") req/s | $(ratio "$on" "$off") |"
    done
    echo
    echo "Every round's figure is in \`results/raw/executor*-*.txt\` when the script has run."
    echo
    echo "## Commands"
    echo
    echo '```'
    echo "benchmarks/executor.sh"
    echo "cellbase serve --data DATA --port PORT                            # NIO executor"
    echo "CELLBASE_NIO_EXECUTOR=0 cellbase serve --data DATA --port PORT    # Swift's global executor"
    sort -u "$COMMANDS_FILE"
    echo '```'
} >"$RESULTS_DIR/executor.md"
log "wrote $RESULTS_DIR/executor.md"
cat "$RESULTS_DIR/executor.md"
