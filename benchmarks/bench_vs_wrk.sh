#!/usr/bin/env bash
# `cellbase bench rest-read` against wrk: the same REST single-row read (GET /rest/v1/bench_items
# ?id=eq.N&select=*, N over 1..1,000), the same node, the same connections and duration, the two
# tools taking turns three times so that drift on the shared machine falls on both. Target: the
# median throughput `cellbase bench` reports is within 10 % of wrk's.
# Writes benchmarks/results/bench-vs-wrk.md; `bench_vs_wrk.sh --report` rewrites it from the raw
# output of the last run.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap stop_services EXIT

ROUNDS=3
ROWS=1000

# bench_field NAME EXPRESSION: a figure of the JSON report of a `cellbase bench` run.
bench_field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$RAW_DIR/$1.json" "$2"; }

# run_bench NAME: one rest-read run of `cellbase bench` with wrk's connections and duration.
run_bench() {
    local name=$1
    log "cellbase bench $name"
    "$CELLBASE_BIN" bench rest-read --url "$CELLBASE_URL_NODE" --apikey "$ANON" --rows "$ROWS" \
        --connections "$WRK_CONNECTIONS" --duration "$WRK_SECONDS" --warmup 0 --json \
        >"$RAW_DIR/$name.json" 2>"$RAW_DIR/$name.progress"
    echo "cellbase bench rest-read --url http://127.0.0.1:PORT --apikey API_KEY --rows $ROWS --connections $WRK_CONNECTIONS --duration $WRK_SECONDS --warmup 0 --json   # $name" >>"$COMMANDS_FILE"
    if [ "$(bench_field "$name" 'sum(r["errors"].values())')" != 0 ]; then
        cat "$RAW_DIR/$name.json" >&2
        echo "cellbase bench $name: answers other than 2xx or failed connections" >&2
        return 1
    fi
}

run_all() {
    begin_run wrk
    # Request lines at info would be written for every request; the figure compares load generators.
    start_cellbase NODE "$CELLBASE_TMP/data" --log-level notice
    local status
    status=$("$CELLBASE_BIN" status --data "$CELLBASE_TMP/data" --json)
    ANON=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["projects"][0]["anon_key"])' <<<"$status")
    SERVICE=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["projects"][0]["service_role_key"])' <<<"$status")
    # Setup through the bench itself: it creates bench_items with a migration and loads the rows.
    log "cellbase bench setup (bench_items, $ROWS rows)"
    "$CELLBASE_BIN" bench rest-read --url "$CELLBASE_URL_NODE" --apikey "$ANON" --service-key "$SERVICE" \
        --admin-token "$(admin_token "$CELLBASE_TMP/data")" --rows "$ROWS" --duration 1 --warmup 0 \
        >"$RAW_DIR/setup.txt" 2>&1
    for round in $(seq 1 "$ROUNDS"); do
        run_wrk "wrk-$round" "$CELLBASE_URL_NODE/rest/v1/bench_items" read.lua "$ANON" "$ROWS" bench_items
        require_clean "wrk-$round"
        run_bench "bench-$round"
    done
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

report() {
    local wrk bench ratio_value verdict_text
    wrk=$(for round in $(seq 1 "$ROUNDS"); do result "wrk-$round" rps; done | median)
    bench=$(for round in $(seq 1 "$ROUNDS"); do bench_field "bench-$round" 'r["throughput"]'; done | median)
    ratio_value=$(ratio "$bench" "$wrk")
    verdict_text=$(awk -v r="$ratio_value" 'BEGIN { print (r >= 0.9 && r <= 1.1 ? "met" : "missed") }')
    {
        echo "# \`cellbase bench\` against wrk"
        echo
        echo "Measured by \`benchmarks/bench_vs_wrk.sh\` in one run: $(cat "$MACHINE_FILE")."
        echo "One \`cellbase serve\` node (SQLite, \`--log-level notice\`); the REST read by id over $(fmt "$ROWS") rows of \`bench_items\`,"
        echo "$WRK_CONNECTIONS connections for $WRK_SECONDS s per run, closed loop, on loopback; wrk with $WRK_THREADS threads,"
        echo "\`cellbase bench\` on its event loops (one per core). $ROUNDS rounds, each wrk first, then \`cellbase bench\`; every answer a 2xx."
        echo
        echo "| round | wrk | \`cellbase bench rest-read\` |"
        echo "|---|---|---|"
        for round in $(seq 1 "$ROUNDS"); do
            echo "| $round | $(fmt "$(result "wrk-$round" rps)") req/s (p50 $(result "wrk-$round" p50_ms) ms, p99 $(result "wrk-$round" p99_ms) ms) | $(fmt "$(bench_field "bench-$round" 'r["throughput"]')") req/s (p50 $(bench_field "bench-$round" 'r["latency_ms"]["p50"]') ms, p99 $(bench_field "bench-$round" 'r["latency_ms"]["p99"]') ms) |"
        done
        echo
        echo "| median wrk | median \`cellbase bench\` | ratio | target |"
        echo "|---|---|---|---|"
        echo "| $(fmt "$wrk") req/s | $(fmt "$bench") req/s | $ratio_value | within 10 % (0.90–1.10): $verdict_text |"
        echo
        echo "## Commands"
        echo
        echo '```'
        echo "benchmarks/bench_vs_wrk.sh"
        echo "swift build -c release --scratch-path .build-release --product cellbase"
        echo "cellbase serve --data DATA --port PORT --log-level notice"
        echo "cellbase bench rest-read --url http://127.0.0.1:PORT --apikey API_KEY --service-key API_KEY --admin-token TOKEN --rows $ROWS --duration 1 --warmup 0   # setup"
        cat "$COMMANDS_FILE"
        echo '```'
    } >"$RESULTS_DIR/bench-vs-wrk.md"
    log "wrote $RESULTS_DIR/bench-vs-wrk.md"
    cat "$RESULTS_DIR/bench-vs-wrk.md"
}

if [ "${1:-}" != "--report" ]; then run_all; fi
report
