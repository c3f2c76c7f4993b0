#!/usr/bin/env bash
# What metrics cost: the REST single-row read on a SQLite node with `--metrics open` (every request
# recorded; /metrics scraped every second during the run, as a busy Prometheus would) against the
# same read on a node with `--metrics off`, alternating twice so that drift on the shared machine
# falls on both sides. Target: metrics on keep >= 0.9 x the throughput with metrics off.
# Writes benchmarks/results/metrics.md. Tracing is off on both nodes: benchmarks/observability.sh
# measures metrics and tracing together.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap stop_services EXIT

ROWS=1000
ROUNDS=2

run_all() {
    begin_run wrk
    start_cellbase ON "$CELLBASE_TMP/data-on" --metrics open
    start_cellbase OFF "$CELLBASE_TMP/data-off" --metrics off
    local url data name ref anon service
    for name in ON OFF; do
        url="CELLBASE_URL_$name"; url=${!url}
        data="$CELLBASE_TMP/data-$(tr '[:upper:]' '[:lower:]' <<<"$name")"
        read -r ref anon service <<<"$(setup project "$url" "$(admin_token "$data")" bench_items "$ITEMS_SQL")"
        setup load "$url" "$service" items 1 "$ROWS"
        setup check "$url" "$anon" "$ROWS"
        printf '%s\n' "$anon" >"$CELLBASE_TMP/anon-$name"
    done
    for round in $(seq 1 "$ROUNDS"); do
        scrape_metrics "$CELLBASE_URL_ON" "$WRK_SECONDS" &
        local scraper=$!
        run_wrk "on-$round" "$CELLBASE_URL_ON/rest/v1/items" read.lua "$(cat "$CELLBASE_TMP/anon-ON")" "$ROWS"
        wait "$scraper"
        run_wrk "off-$round" "$CELLBASE_URL_OFF/rest/v1/items" read.lua "$(cat "$CELLBASE_TMP/anon-OFF")" "$ROWS"
        require_clean "on-$round"
        require_clean "off-$round"
    done
    curl -fsS "$CELLBASE_URL_ON/metrics" >"$RAW_DIR/metrics-scrape.txt"
    grep -q '^cellbase_http_requests_total{.*route="/rest/v1/{table}"' "$RAW_DIR/metrics-scrape.txt"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

report() {
    local on off
    on=$(for round in $(seq 1 "$ROUNDS"); do result "on-$round" rps; done | median)
    off=$(for round in $(seq 1 "$ROUNDS"); do result "off-$round" rps; done | median)
    {
        echo "# Metrics cost"
        echo
        echo "Measured by \`benchmarks/metrics.sh\` in one run: $(cat "$MACHINE_FILE")."
        echo "wrk with $WRK_THREADS threads and $WRK_CONNECTIONS connections for $WRK_SECONDS s per round on loopback, every answer a 2xx;"
        echo "$ROUNDS rounds, each first on the node with metrics on (scraped once a second meanwhile), then on the node with metrics off."
        echo
        echo "| round | REST read by id, \`--metrics open\` | REST read by id, \`--metrics off\` |"
        echo "|---|---|---|"
        for round in $(seq 1 "$ROUNDS"); do
            echo "| $round | $(fmt "$(result "on-$round" rps)") req/s (p99 $(result "on-$round" p99_ms) ms) | $(fmt "$(result "off-$round" rps)") req/s (p99 $(result "off-$round" p99_ms) ms) |"
        done
        echo
        echo "| median on | median off | ratio | target |"
        echo "|---|---|---|---|"
        echo "| $(fmt "$on") req/s | $(fmt "$off") req/s | $(ratio "$on" "$off") | ≥ 0.9: $(verdict "$(ratio "$on" "$off")" 0.9) |"
        echo
        echo "Tracing is off on both nodes; \`benchmarks/observability.sh\` measures metrics and tracing together."
        echo
        echo "## Commands"
        echo
        echo '```'
        echo "benchmarks/metrics.sh"
        echo "swift build -c release --scratch-path .build-release --product cellbase"
        echo "cellbase serve --data DATA_ON --port PORT --metrics open"
        echo "cellbase serve --data DATA_OFF --port PORT --metrics off"
        echo "# table: $ITEMS_SQL_LINE; $ROWS rows loaded through POST /rest/v1/items"
        echo "curl -fsS http://127.0.0.1:PORT/metrics   # once a second during each metrics-on round"
        cat "$COMMANDS_FILE"
        echo '```'
    } >"$RESULTS_DIR/metrics.md"
    log "wrote $RESULTS_DIR/metrics.md"
    cat "$RESULTS_DIR/metrics.md"
}

if [ "${1:-}" != "--report" ]; then run_all; fi
report
