#!/usr/bin/env bash
# Realtime on one node, with `cellbase bench realtime-fanout` as the client:
#   (a) idle subscribed WebSockets: as many as the file-descriptor limit allows, up to
#       IDLE_CONNECTIONS (50,000), held with heartbeats only; the node's RSS before, at its peak and
#       per connection. Target: 50,000 in ≤ 1.5 GiB (anchor: Supabase Realtime ~164 KB per connection).
#   (b) one broadcast a second fanned out to FANOUT_SUBSCRIBERS (10,000): delivery p99 < 100 ms.
#   (c) sustained broadcast deliveries per second, SUSTAINED_RATE (100) messages/s to
#       SUSTAINED_SUBSCRIBERS (1,000) subscribers, beside Mosquitto fanning out the same messages to
#       the same number of MQTT subscribers (benchmarks/mqtt_fanout.py as the client).
# Every figure can be run smaller through the variables above; the report says what was run.
# Writes benchmarks/results/realtime.md; `realtime.sh --report` rewrites it from the last run's raw output.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"

IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-50000}
IDLE_SECONDS=${IDLE_SECONDS:-30}
FANOUT_SUBSCRIBERS=${FANOUT_SUBSCRIBERS:-10000}
SUSTAINED_SUBSCRIBERS=${SUSTAINED_SUBSCRIBERS:-1000}
SUSTAINED_RATE=${SUSTAINED_RATE:-100}
SECONDS_MEASURED=${SECONDS_MEASURED:-10}
WARMUP_SECONDS=${WARMUP_SECONDS:-2}
# Loopback addresses the subscriber sockets bind to in turn: 8 × ~28,000 ephemeral ports.
SOURCE_ADDRESSES=127.0.0.1-127.0.0.8
RUN_FILE="$RAW_DIR/realtime-run.txt"

MOSQUITTO_PID=""
stop_all() {
    if [ -n "$MOSQUITTO_PID" ]; then
        kill "$MOSQUITTO_PID" 2>/dev/null || true
        wait "$MOSQUITTO_PID" 2>/dev/null || true
    fi
    stop_services
}
trap stop_all EXIT

bench_field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$RAW_DIR/$1.json" "$2"; }
rss_kib() { awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"; }

# run_fanout NAME ARGS...: one `cellbase bench realtime-fanout` run against the node, JSON in raw/NAME.json.
run_fanout() {
    local name=$1
    shift
    log "cellbase bench realtime-fanout $name"
    "$CELLBASE_BIN" bench realtime-fanout --url "$CELLBASE_URL_NODE" --apikey "$ANON" --json "$@" \
        >"$RAW_DIR/$name.json" 2>"$RAW_DIR/$name.progress"
    echo "cellbase bench realtime-fanout --url http://127.0.0.1:PORT --apikey API_KEY --json $*   # $name" >>"$COMMANDS_FILE"
}

start_mosquitto() {
    MOSQUITTO_PORT=$(free_port)
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type error\nmax_queued_messages 100000\n' \
        "$MOSQUITTO_PORT" >"$CELLBASE_TMP/mosquitto.conf"
    mosquitto -c "$CELLBASE_TMP/mosquitto.conf" >"$CELLBASE_TMP/mosquitto.log" 2>&1 &
    MOSQUITTO_PID=$!
    for _ in $(seq 1 100); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" "$MOSQUITTO_PORT" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    cat "$CELLBASE_TMP/mosquitto.log" >&2
    echo "mosquitto did not start" >&2
    return 1
}

run_all() {
    begin_run mosquitto
    # Every socket is a file descriptor, in the node and in the client: take the hard limit, and
    # open no more idle sockets than it leaves room for.
    ulimit -n "$(ulimit -Hn)"
    local fd_limit idle
    fd_limit=$(ulimit -n)
    idle=$IDLE_CONNECTIONS
    [ "$idle" -gt $((fd_limit - 500)) ] && idle=$((fd_limit - 500))
    # What was run, one NAME=value a line, read back by the report.
    {
        echo "IDLE_CONNECTIONS=$IDLE_CONNECTIONS"
        echo "IDLE_SECONDS=$IDLE_SECONDS"
        echo "FANOUT_SUBSCRIBERS=$FANOUT_SUBSCRIBERS"
        echo "SUSTAINED_SUBSCRIBERS=$SUSTAINED_SUBSCRIBERS"
        echo "SUSTAINED_RATE=$SUSTAINED_RATE"
        echo "SECONDS_MEASURED=$SECONDS_MEASURED"
        echo "WARMUP_SECONDS=$WARMUP_SECONDS"
        echo "FD_LIMIT=$fd_limit"
        echo "IDLE_OPENED=$idle"
    } >"$RUN_FILE"
    # The quotas are per project and modelled on a free plan; this run is the node's only client.
    start_cellbase NODE "$CELLBASE_TMP/data" --log-level notice \
        --realtime-max-connections 1000000 --realtime-max-joins-per-second 1000000 \
        --realtime-max-events-per-second 1000000
    local node_pid=${CELLBASE_PIDS[-1]}
    ANON=$("$CELLBASE_BIN" status --data "$CELLBASE_TMP/data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["projects"][0]["anon_key"])')

    echo "rss_before_kib=$(rss_kib "$node_pid" VmRSS)" >>"$RUN_FILE"
    run_fanout idle --idle --connections "$idle" --duration "$IDLE_SECONDS" --source-addresses "$SOURCE_ADDRESSES"
    # VmHWM is the node's peak RSS, reached while the sockets were held.
    echo "rss_peak_kib=$(rss_kib "$node_pid" VmHWM)" >>"$RUN_FILE"
    sleep 2
    echo "rss_after_kib=$(rss_kib "$node_pid" VmRSS)" >>"$RUN_FILE"

    run_fanout fanout --connections "$FANOUT_SUBSCRIBERS" --rate 1 --duration "$SECONDS_MEASURED" \
        --warmup "$WARMUP_SECONDS" --source-addresses "$SOURCE_ADDRESSES"
    run_fanout sustained --connections "$SUSTAINED_SUBSCRIBERS" --rate "$SUSTAINED_RATE" \
        --duration "$SECONDS_MEASURED" --warmup "$WARMUP_SECONDS"

    start_mosquitto
    log "mqtt_fanout.py against mosquitto"
    python3 "$BENCH_DIR/mqtt_fanout.py" --port "$MOSQUITTO_PORT" --connections "$SUSTAINED_SUBSCRIBERS" \
        --rate "$SUSTAINED_RATE" --duration "$SECONDS_MEASURED" --warmup "$WARMUP_SECONDS" >"$RAW_DIR/mosquitto.json"
    echo "python3 benchmarks/mqtt_fanout.py --port PORT --connections $SUSTAINED_SUBSCRIBERS --rate $SUSTAINED_RATE --duration $SECONDS_MEASURED --warmup $WARMUP_SECONDS   # mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}')" >>"$COMMANDS_FILE"
}

mosquitto_field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$RAW_DIR/mosquitto.json" "$1"; }

report() {
    # The run's own settings, whatever the environment of a later --report says.
    source "$RUN_FILE"
    local before peak after joined still per_connection projected fanout_p99 cellbase_rate mosquitto_rate
    before=$rss_before_kib
    peak=$rss_peak_kib
    after=$rss_after_kib
    joined=$(bench_field idle 'r["realtime"]["joined"]')
    still=$(bench_field idle 'r["realtime"]["still_joined"]')
    per_connection=$(awk -v b="$before" -v p="$peak" -v n="$joined" 'BEGIN { printf "%.1f", (n > 0 ? (p - b) / n : 0) }')
    projected=$(awk -v b="$before" -v k="$per_connection" 'BEGIN { printf "%.2f", (b + k * 50000) / 1048576 }')
    fanout_p99=$(bench_field fanout 'r["latency_ms"]["p99"]')
    cellbase_rate=$(bench_field sustained 'r["realtime"]["deliveries_per_second"]')
    mosquitto_rate=$(mosquitto_field 'r["deliveries_per_second"]')
    {
        echo "# Realtime"
        echo
        echo "Measured by \`benchmarks/realtime.sh\` in one run: $(cat "$MACHINE_FILE")."
        echo "One \`cellbase serve\` node (SQLite, \`--log-level notice\`, realtime quotas lifted), the client"
        echo "\`cellbase bench realtime-fanout\` on the same machine, subscriber sockets bound round-robin to"
        echo "$SOURCE_ADDRESSES. Run with: $(grep -v '^rss_' "$RUN_FILE" | tr '\n' ' ' | sed 's/ $//') (IDLE_OPENED: the idle sockets"
        echo "asked for, IDLE_CONNECTIONS capped by the file-descriptor limit FD_LIMIT less 500)."
        echo
        echo "| figure | Cellbase | peer / anchor | target | verdict |"
        echo "|---|---|---|---|---|"
        echo "| $(fmt "$IDLE_OPENED") idle subscribed WebSockets asked for, held ${IDLE_SECONDS} s | $(fmt "$joined") joined, $(fmt "$still") still joined; node RSS $(fmt $((before / 1024))) MiB before, $(fmt $((peak / 1024))) MiB at peak, $(fmt $((after / 1024))) MiB after; $per_connection KiB per connection (50,000 projected: $projected GiB) | Supabase Realtime ~164 KB per connection | 50,000 in ≤ 1.5 GiB | $(awk -v g="$projected" -v n="$joined" 'BEGIN { if (n >= 50000) print (g <= 1.5 ? "met" : "missed"); else print (g <= 1.5 ? "met on the projection" : "missed on the projection") }') |"
        echo "| one broadcast a second to $(fmt "$(bench_field fanout 'r["realtime"]["joined"]')") subscribers, ${SECONDS_MEASURED} s | p50 $(bench_field fanout 'r["latency_ms"]["p50"]') ms, p99 $fanout_p99 ms, max $(bench_field fanout 'r["latency_ms"]["max"]') ms; $(fmt "$(bench_field fanout 'r["realtime"]["deliveries"]')") deliveries, $(fmt "$(bench_field fanout 'r["realtime"]["missing_deliveries"]')") missing | — | p99 < 100 ms | $(awk -v p="$fanout_p99" 'BEGIN { print (p < 100 ? "met" : "missed") }') |"
        echo "| $SUSTAINED_RATE broadcasts/s to $(fmt "$SUSTAINED_SUBSCRIBERS") subscribers, ${SECONDS_MEASURED} s | $(fmt "$cellbase_rate") deliveries/s, p99 $(bench_field sustained 'r["latency_ms"]["p99"]') ms, $(fmt "$(bench_field sustained 'r["realtime"]["missing_deliveries"]')") missing | Mosquitto: $(fmt "$mosquitto_rate") deliveries/s, p99 $(mosquitto_field 'r["latency_ms"]["p99"]') ms, $(fmt "$(mosquitto_field 'r["missing_deliveries"]')") missing | reported | $(ratio "$cellbase_rate" "$mosquitto_rate") × Mosquitto |"
        echo
        echo "- RSS is the node's \`VmRSS\` from \`/proc/PID/status\` before the idle sockets opened and after they"
        echo "  closed, and \`VmHWM\` (its peak) while they were held; per connection = (peak − before) / joined."
        echo "- The client shares the machine's cores with the node (and, for Mosquitto, with the broker). When deliveries"
        echo "  fall behind the schedule, latency grows with the backlog and deliveries still queued after the 5 s wait"
        echo "  count as missing; this run does not separate the node's share of that from the client's."
        echo "- Idle sockets: each joins one topic (\`config.broadcast.self\` false) and sends only a heartbeat every 25 s."
        echo "  The number opened is the smaller of IDLE_CONNECTIONS and the file-descriptor limit less 500."
        echo "- Fan-out latency is arrival at a subscriber minus the moment the message was due, both on this machine's"
        echo "  monotonic clock; deliveries of messages due in the measured window are counted, waiting up to 5 s after it."
        echo "- The Mosquitto side uses a different client, \`benchmarks/mqtt_fanout.py\` (Python asyncio, QoS 0, the same"
        echo "  schedule, stamps and counting); a Python client can fall behind before the broker does, so the ratio"
        echo "  flatters Cellbase when Mosquitto's figure is below the offered $(fmt $((SUSTAINED_RATE * SUSTAINED_SUBSCRIBERS))) deliveries/s."
        echo
        echo "Commands:"
        echo
        echo '```'
        cat "$COMMANDS_FILE"
        echo '```'
    } >"$RESULTS_DIR/realtime.md"
    log "wrote $RESULTS_DIR/realtime.md"
}

if [ "${1:-}" != "--report" ]; then run_all; fi
report
