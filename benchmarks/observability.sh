#!/usr/bin/env bash
# What observability costs: the REST single-row read on a SQLite node with metrics and tracing on
# (`--metrics open`, /metrics scraped every second; `--tracing on`, every request and every read
# sampled and exported over OTLP/HTTP to a local receiver that counts the spans and keeps nothing)
# against the same read on a node with both off, rounds alternating so that drift on the shared
# machine falls on both sides. Target: on keeps >= 0.9 x the throughput with both off.
# Writes benchmarks/results/observability.md.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap stop_services EXIT

ROWS=1000
ROUNDS=3
# Every span exported: swift-otel's batch processor sends one batch per tick (every 5 s, or when
# its queue is full), so with its defaults (a queue of 2,048, batches of 512) a node answering
# thousands of reads a second drops spans rather than wait for the collector — and a dropped span
# costs less than an exported one. Ticks every 100 ms of up to 4,096 spans keep up.
BSP_DELAY=100
BSP_QUEUE=65536
BSP_BATCH=4096

run_all() {
    begin_run wrk

    log "OTLP receiver"
    python3 "$BENCH_DIR/otlp_sink.py" "$CELLBASE_TMP/sink-port" "$CELLBASE_TMP/sink-counts" &
    local sink=$!
    for _ in $(seq 1 50); do [ -s "$CELLBASE_TMP/sink-port" ] && break; sleep 0.1; done
    local sink_port
    sink_port=$(cat "$CELLBASE_TMP/sink-port")

    OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_TRACES_SAMPLER=always_on OTEL_BSP_SCHEDULE_DELAY=$BSP_DELAY \
        OTEL_BSP_MAX_QUEUE_SIZE=$BSP_QUEUE OTEL_BSP_MAX_EXPORT_BATCH_SIZE=$BSP_BATCH \
        start_cellbase ON "$CELLBASE_TMP/data-on" --metrics open --tracing on
    local node_on=${CELLBASE_PIDS[-1]}
    start_cellbase OFF "$CELLBASE_TMP/data-off" --metrics off --tracing off
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
        run_wrk "obs-on-$round" "$CELLBASE_URL_ON/rest/v1/items" read.lua "$(cat "$CELLBASE_TMP/anon-ON")" "$ROWS"
        wait "$scraper"
        run_wrk "obs-off-$round" "$CELLBASE_URL_OFF/rest/v1/items" read.lua "$(cat "$CELLBASE_TMP/anon-OFF")" "$ROWS"
        require_clean "obs-on-$round"
        require_clean "obs-off-$round"
    done

    # Stopping the node exports its last spans; then the receiver writes what it counted.
    kill "$node_on"
    wait "$node_on" || true
    kill "$sink"
    wait "$sink" || true
    cp "$CELLBASE_TMP/sink-counts" "$RAW_DIR/observability-sink.txt"
    # Spans the node dropped (a full queue): swift-otel logs each iteration's count.
    python3 - "$CELLBASE_TMP/cellbase-ON.log" >"$RAW_DIR/observability-dropped.txt" <<'EOF'
import json, sys
dropped = 0
for line in open(sys.argv[1]):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if entry.get("message", "").startswith("Spans were dropped"):
        dropped += int(entry.get("dropped_count", 0))
print(dropped)
EOF
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
total() { awk '{ s += $1 } END { printf "%.0f", s }'; }

report() {
    local on off exports spans bytes dropped requests
    on=$(for round in $(seq 1 "$ROUNDS"); do result "obs-on-$round" rps; done | median)
    off=$(for round in $(seq 1 "$ROUNDS"); do result "obs-off-$round" rps; done | median)
    read -r exports spans bytes <"$RAW_DIR/observability-sink.txt"
    dropped=$(cat "$RAW_DIR/observability-dropped.txt")
    requests=$(for round in $(seq 1 "$ROUNDS"); do result "obs-on-$round" requests; done | total)
    {
        echo "# Observability cost"
        echo
        echo "Measured by \`benchmarks/observability.sh\` in one run: $(cat "$MACHINE_FILE")."
        echo "wrk with $WRK_THREADS threads and $WRK_CONNECTIONS connections for $WRK_SECONDS s per round on loopback, every answer a 2xx;"
        echo "$ROUNDS rounds, each first on the node with metrics and tracing on, then on the node with both off."
        echo "On: \`--metrics open\` with \`/metrics\` scraped once a second, and \`--tracing on\` sampling every request"
        echo "(\`OTEL_TRACES_SAMPLER=always_on\`) and exporting over OTLP/HTTP protobuf to a receiver on loopback"
        echo "(\`benchmarks/otlp_sink.py\`, which counts the spans and keeps nothing)."
        echo
        echo "| round | REST read by id, metrics and tracing on | REST read by id, both off |"
        echo "|---|---|---|"
        for round in $(seq 1 "$ROUNDS"); do
            echo "| $round | $(fmt "$(result "obs-on-$round" rps)") req/s (p99 $(result "obs-on-$round" p99_ms) ms) | $(fmt "$(result "obs-off-$round" rps)") req/s (p99 $(result "obs-off-$round" p99_ms) ms) |"
        done
        echo
        echo "| median on | median off | ratio | target |"
        echo "|---|---|---|---|"
        echo "| $(fmt "$on") req/s | $(fmt "$off") req/s | $(ratio "$on" "$off") | ≥ 0.9: $(verdict "$(ratio "$on" "$off")" 0.9) |"
        echo
        echo "The receiver got $(fmt "$spans") spans in $(fmt "$exports") exports ($(fmt "$bytes") bytes of protobuf)"
        echo "for the $(fmt "$requests") reads wrk counted on the traced node (each a request span and a database span;"
        echo "the node's setup requests and health checks add a few); the node dropped $(fmt "$dropped") spans."
        echo
        echo "## Commands"
        echo
        echo '```'
        echo "benchmarks/observability.sh"
        echo "swift build -c release --scratch-path .build-release --product cellbase"
        echo "python3 benchmarks/otlp_sink.py PORT_FILE COUNT_FILE"
        echo "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:SINK_PORT OTEL_TRACES_SAMPLER=always_on OTEL_BSP_SCHEDULE_DELAY=$BSP_DELAY \\"
        echo "    OTEL_BSP_MAX_QUEUE_SIZE=$BSP_QUEUE OTEL_BSP_MAX_EXPORT_BATCH_SIZE=$BSP_BATCH \\"
        echo "    cellbase serve --data DATA_ON --port PORT --metrics open --tracing on"
        echo "cellbase serve --data DATA_OFF --port PORT --metrics off --tracing off"
        echo "# table: $ITEMS_SQL_LINE; $ROWS rows loaded through POST /rest/v1/items"
        echo "curl -fsS http://127.0.0.1:PORT/metrics   # once a second during each round on the traced node"
        cat "$COMMANDS_FILE"
        echo '```'
    } >"$RESULTS_DIR/observability.md"
    log "wrote $RESULTS_DIR/observability.md"
    cat "$RESULTS_DIR/observability.md"
}

if [ "${1:-}" != "--report" ]; then run_all; fi
report
