#!/usr/bin/env bash
# Telemetry, side by side in one run, the same load generator (`cellbase bench`) on both sides:
#   1. QoS 1 publishes stored by Cellbase (SQLite, PUBACK after commit) against the same publishes
#      relayed by Mosquitto 2 to one subscriber — target >= 1.0 x Mosquitto;
#   2. HTTP batch ingest into SQLite, JSON and line protocol — target >= 300,000 points/s;
#   3. 10,000 connected idle devices: the node's RSS, beside Mosquitto's with 10,000 idle clients;
#   4. a day of 1 Hz data for one metric downsampled to 1-minute buckets: query latency (wrk).
# Writes benchmarks/results/telemetry.md.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap 'stop_mosquitto; stop_services' EXIT

ROUNDS=3
MQTT_CONNECTIONS=64
SECONDS_MEASURED=20
INGEST_CONNECTIONS=4
INGEST_BATCH=5000
IDLE_DEVICES=10000
IDLE_CONNECT_SECONDS=40
IDLE_HOLD_SECONDS=30

MOSQUITTO_PID=""
start_mosquitto() {
    MOSQUITTO_PORT=$(free_port)
    cat >"$CELLBASE_TMP/mosquitto.conf" <<EOF
listener $MOSQUITTO_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
EOF
    mosquitto -c "$CELLBASE_TMP/mosquitto.conf" >"$CELLBASE_TMP/mosquitto.log" 2>&1 &
    MOSQUITTO_PID=$!
    for _ in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$MOSQUITTO_PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$CELLBASE_TMP/mosquitto.log" >&2
    return 1
}
stop_mosquitto() { [ -n "$MOSQUITTO_PID" ] && kill "$MOSQUITTO_PID" 2>/dev/null || true; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
json_field() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); [v := v[k] for k in sys.argv[2].split(".")]; print(v)' "$1" "$2"; }

# bench NAME ARGS...: one `cellbase bench` run, its JSON report kept as $RAW_DIR/NAME.json.
bench() {
    local name=$1
    shift
    log "cellbase bench $name"
    "$CELLBASE_BIN" bench "$@" --json >"$RAW_DIR/$name.json" 2>"$RAW_DIR/$name.progress"
    local shown=() argument
    for argument in "$@"; do
        if [ ${#argument} -gt 40 ]; then shown+=(KEY); else shown+=("$argument"); fi
    done
    echo "cellbase bench ${shown[*]} --json   # $name" | sed -E 's#http://127\.0\.0\.1:[0-9]+#http://127.0.0.1:PORT#; s#127\.0\.0\.1:[0-9]{4,5}#127.0.0.1:PORT#g; s#--mqtt-port [0-9]+#--mqtt-port MQTT_PORT#' >>"$COMMANDS_FILE"
}

run_all() {
    begin_run mosquitto
    ulimit -n "$(ulimit -Hn)"
    start_cellbase TEL "$CELLBASE_TMP/data-tel"
    local url=$CELLBASE_URL_TEL mqtt=$CELLBASE_MQTT_PORT_TEL ref anon service
    read -r ref anon service <<<"$(setup project "$url" "$(admin_token "$CELLBASE_TMP/data-tel")" telemetry "$ITEMS_SQL")"
    printf '%s\n' "$ref" >"$CELLBASE_TMP/ref"
    local node=(--url "$url" --apikey "$anon" --service-key "$service")
    start_mosquitto

    # 1. QoS 1 publishes, alternating so drift on the shared machine falls on both sides.
    for round in $(seq 1 "$ROUNDS"); do
        bench "mqtt-cellbase-$round" mqtt-publish "${node[@]}" --mqtt-port "$mqtt" --connections "$MQTT_CONNECTIONS" --duration "$SECONDS_MEASURED" --warmup 3
        bench "mqtt-mosquitto-$round" mqtt-publish --mqtt-broker "127.0.0.1:$MOSQUITTO_PORT" --connections "$MQTT_CONNECTIONS" --duration "$SECONDS_MEASURED" --warmup 3
    done

    # 2. HTTP batch ingest.
    for format in json line; do
        for round in 1 2; do
            bench "ingest-$format-$round" http-ingest "${node[@]}" --batch "$INGEST_BATCH" --ingest-format "$format" --connections "$INGEST_CONNECTIONS" --duration "$SECONDS_MEASURED" --warmup 3
        done
    done

    # 4. A day of 1 Hz data, then its 1-minute averages, queried over and over.
    local end
    end=$(( $(date +%s) / 60 * 60 ))
    setup telemetry-day "$url" "$service" day-1hz "$end"
    local query="/telemetry/v1/series?device=day-1hz&metric=env.temp&from=$((end - 86400))&to=$end&bucket=1m&agg=avg"
    curl -fsS -H "apikey: $service" -H "Authorization: Bearer $service" "$url$query" >"$RAW_DIR/query-answer.json"
    WRK_CONNECTIONS=4 run_wrk query "$url$query" get.lua "$service" "$query"
    require_clean query

    # 3. Idle devices: the node's RSS before and while 10,000 devices are connected; Mosquitto's likewise.
    local pid=${CELLBASE_PIDS[-1]}
    rss_kib "$pid" >"$RAW_DIR/idle-cellbase-rss-before.txt"
    bench "idle-cellbase" mqtt-publish "${node[@]}" --mqtt-port "$mqtt" --idle --connections "$IDLE_DEVICES" --warmup "$IDLE_CONNECT_SECONDS" --duration "$IDLE_HOLD_SECONDS" &
    local runner=$!
    sleep_until_hold "$RAW_DIR/idle-cellbase.progress"
    rss_kib "$pid" >"$RAW_DIR/idle-cellbase-rss-held.txt"
    wait "$runner"
    rss_kib "$MOSQUITTO_PID" >"$RAW_DIR/idle-mosquitto-rss-before.txt"
    bench "idle-mosquitto" mqtt-publish --mqtt-broker "127.0.0.1:$MOSQUITTO_PORT" --idle --connections "$IDLE_DEVICES" --warmup "$IDLE_CONNECT_SECONDS" --duration "$IDLE_HOLD_SECONDS" &
    runner=$!
    sleep_until_hold "$RAW_DIR/idle-mosquitto.progress"
    rss_kib "$MOSQUITTO_PID" >"$RAW_DIR/idle-mosquitto-rss-held.txt"
    wait "$runner"
}

# Waits until a bench run's progress line says it is measuring, then half the hold more.
sleep_until_hold() {
    until grep -q measuring "$1" 2>/dev/null; do sleep 1; done
    sleep $((IDLE_HOLD_SECONDS / 2))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
per_device_kib() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.1f", (b - a) / n }'; }

report() {
    local cellbase mosquitto
    cellbase=$(for round in $(seq 1 "$ROUNDS"); do json_field "$RAW_DIR/mqtt-cellbase-$round.json" success_throughput; done | median)
    mosquitto=$(for round in $(seq 1 "$ROUNDS"); do json_field "$RAW_DIR/mqtt-mosquitto-$round.json" success_throughput; done | median)
    local json_points line_points
    json_points=$(for round in 1 2; do json_field "$RAW_DIR/ingest-json-$round.json" points_per_second; done | median)
    line_points=$(for round in 1 2; do json_field "$RAW_DIR/ingest-line-$round.json" points_per_second; done | median)
    local cb_before cb_held mq_before mq_held
    cb_before=$(cat "$RAW_DIR/idle-cellbase-rss-before.txt"); cb_held=$(cat "$RAW_DIR/idle-cellbase-rss-held.txt")
    mq_before=$(cat "$RAW_DIR/idle-mosquitto-rss-before.txt"); mq_held=$(cat "$RAW_DIR/idle-mosquitto-rss-held.txt")
    {
        echo "# Telemetry"
        echo
        echo "Measured by \`benchmarks/telemetry.sh\` in one run: $(cat "$MACHINE_FILE")."
        echo "One Cellbase node on SQLite (release build) and Mosquitto $(mosquitto -h 2>/dev/null | awk 'NR==1 {print $3}') on loopback, loaded by \`cellbase bench\` on the same machine."
        echo
        echo "## QoS 1 publishes: stored by Cellbase vs relayed by Mosquitto"
        echo
        echo "$MQTT_CONNECTIONS MQTT 3.1.1 connections, each publishing \`{\"temp\":21.5,\"rpm\":1200}\` at QoS 1 and waiting for its PUBACK before the next,"
        echo "$SECONDS_MEASURED s measured after 3 s of warm-up, $ROUNDS rounds alternating. Cellbase acknowledges a publish once its two points are"
        echo "committed to the project's SQLite database (group commit); Mosquitto acknowledges on receipt and relays each publish to one"
        echo "QoS 1 subscriber on \`devices/+/telemetry\` (the relay counts below say it did)."
        echo
        echo "| round | Cellbase: publishes/s stored (p50 / p99) | Mosquitto: publishes/s relayed (p50 / p99) | relayed |"
        echo "|---|---|---|---|"
        for round in $(seq 1 "$ROUNDS"); do
            local c="$RAW_DIR/mqtt-cellbase-$round.json" m="$RAW_DIR/mqtt-mosquitto-$round.json"
            echo "| $round | $(fmt "$(json_field "$c" success_throughput)") ($(json_field "$c" latency_ms.p50) / $(json_field "$c" latency_ms.p99) ms) | $(fmt "$(json_field "$m" success_throughput)") ($(json_field "$m" latency_ms.p50) / $(json_field "$m" latency_ms.p99) ms) | $(fmt "$(json_field "$m" mqtt.relayed)") of $(fmt "$(json_field "$m" mqtt.acknowledged)") |"
        done
        echo
        echo "| median Cellbase | median Mosquitto | ratio | target |"
        echo "|---|---|---|---|"
        echo "| $(fmt "$cellbase") publishes/s | $(fmt "$mosquitto") publishes/s | $(ratio "$cellbase" "$mosquitto") | ≥ 1.0: $(verdict "$(ratio "$cellbase" "$mosquitto")" 1.0) |"
        echo
        echo "## HTTP batch ingest into SQLite"
        echo
        echo "$INGEST_CONNECTIONS connections, each posting $(fmt "$INGEST_BATCH") points a request for a device of its own, $SECONDS_MEASURED s measured after 3 s of warm-up."
        echo
        echo "| format | round 1 | round 2 | median | target |"
        echo "|---|---|---|---|---|"
        for format in json line; do
            local median_points
            median_points=$([ "$format" = json ] && echo "$json_points" || echo "$line_points")
            echo "| $format | $(fmt "$(json_field "$RAW_DIR/ingest-$format-1.json" points_per_second)") points/s | $(fmt "$(json_field "$RAW_DIR/ingest-$format-2.json" points_per_second)") points/s | $(fmt "$median_points") points/s | ≥ 300,000: $(verdict "$(ratio "$median_points" 300000)" 1.0) |"
        done
        echo
        echo "## 10,000 idle devices"
        echo
        echo "$(fmt "$IDLE_DEVICES") MQTT 3.1.1 connections opened during ${IDLE_CONNECT_SECONDS} s, then held ${IDLE_HOLD_SECONDS} s with a PINGREQ every 30 s; RSS read from \`/proc/PID/status\` before the run and halfway through the hold."
        echo "Cellbase's devices exist in the project (created by the bench through \`/telemetry/v1/devices\`) and authenticate with their tokens; Mosquitto's clients are anonymous."
        echo
        echo "| server | CONNECTs accepted | still open at the end | RSS before | RSS while held | per connection |"
        echo "|---|---|---|---|---|---|"
        echo "| Cellbase | $(fmt "$(json_field "$RAW_DIR/idle-cellbase.json" mqtt.connected)") | $(fmt "$(json_field "$RAW_DIR/idle-cellbase.json" mqtt.still_connected)") | $(mib "$cb_before") MiB | $(mib "$cb_held") MiB | $(per_device_kib "$cb_before" "$cb_held" "$IDLE_DEVICES") KiB |"
        echo "| Mosquitto | $(fmt "$(json_field "$RAW_DIR/idle-mosquitto.json" mqtt.connected)") | $(fmt "$(json_field "$RAW_DIR/idle-mosquitto.json" mqtt.still_connected)") | $(mib "$mq_before") MiB | $(mib "$mq_held") MiB | $(per_device_kib "$mq_before" "$mq_held" "$IDLE_DEVICES") KiB |"
        echo
        echo "## A day of 1 Hz data in 1-minute buckets"
        echo
        echo "86,400 points of one metric (one a second over the last day, stored through line-protocol ingest), queried as"
        echo "1,440 one-minute averages: wrk, 2 threads, 4 connections, $WRK_SECONDS s, the same request each time."
        echo
        echo "| queries/s | p50 | p99 |"
        echo "|---|---|---|"
        echo "| $(fmt "$(result query rps)") | $(result query p50_ms) ms | $(result query p99_ms) ms |"
        echo
        echo "## Commands"
        echo
        echo '```'
        echo "benchmarks/telemetry.sh"
        echo "swift build -c release --scratch-path .build-release --product cellbase"
        echo "cellbase serve --data DATA --port PORT --mqtt-port MQTT_PORT"
        echo "mosquitto -c mosquitto.conf   # listener PORT 127.0.0.1, allow_anonymous true, persistence false, max_queued_messages 100000"
        echo "python3 benchmarks/bench_setup.py telemetry-day URL SERVICE_KEY day-1hz END"
        cat "$COMMANDS_FILE"
        echo '```'
    } >"$RESULTS_DIR/telemetry.md"
    log "wrote $RESULTS_DIR/telemetry.md"
    cat "$RESULTS_DIR/telemetry.md"
}

if [ "${1:-}" != "--report" ]; then run_all; fi
report
