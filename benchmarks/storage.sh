#!/usr/bin/env bash
# Storage on the local disk backend, side by side with nginx in one run:
#   1. download throughput of a 100 MB object through /storage/v1 against nginx serving the same
#      file from disk — target >= 0.7 x nginx;
#   2. the node's memory during a 1 GB upload (streamed with curl, RSS sampled every 0.2 s);
#   3. 4 KB uploads per second through /storage/v1, beside nginx's WebDAV PUT of the same bodies.
# Writes benchmarks/results/storage.md.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap 'stop_nginx; stop_services' EXIT

ROUNDS=2
BIG_MB=100
HUGE_MB=1024

start_nginx() {
    NGINX_PORT=$(free_port)
    mkdir -p "$CELLBASE_TMP/nginx/root/dav" "$CELLBASE_TMP/nginx/tmp"
    # nginx's workers run as an unprivileged user when it is started as root: they write here.
    chmod 777 "$CELLBASE_TMP/nginx/root/dav" "$CELLBASE_TMP/nginx/tmp"
    NGINX_PID_FILE="$CELLBASE_TMP/nginx/nginx.pid"
    cat >"$CELLBASE_TMP/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $NGINX_PID_FILE;
error_log $CELLBASE_TMP/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $CELLBASE_TMP/nginx/tmp;
    proxy_temp_path $CELLBASE_TMP/nginx/tmp;
    fastcgi_temp_path $CELLBASE_TMP/nginx/tmp;
    uwsgi_temp_path $CELLBASE_TMP/nginx/tmp;
    scgi_temp_path $CELLBASE_TMP/nginx/tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $CELLBASE_TMP/nginx/root;
        location /dav/ { dav_methods PUT; create_full_put_path on; client_max_body_size 16k; }
    }
}
EOF
    nginx -c "$CELLBASE_TMP/nginx/nginx.conf"
    for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/big.bin" -r 0-0 2>/dev/null && return 0; sleep 0.1; done
    cat "$CELLBASE_TMP/nginx/error.log" >&2
    return 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

run_all() {
    begin_run wrk nginx
    mkdir -p "$CELLBASE_TMP/nginx/root"
    head -c "$((BIG_MB * 1000 * 1000))" /dev/urandom >"$CELLBASE_TMP/nginx/root/big.bin"
    start_nginx
    start_cellbase STORE "$CELLBASE_TMP/data-store" --storage-max-object-bytes "$((2 * 1024 * 1024 * 1024))"
    local url=$CELLBASE_URL_STORE ref anon service pid=${CELLBASE_PIDS[-1]}
    read -r ref anon service <<<"$(setup project "$url" "$(admin_token "$CELLBASE_TMP/data-store")" storage "$ITEMS_SQL")"
    local auth=(-H "apikey: $service" -H "Authorization: Bearer $service")
    curl -fsS "${auth[@]}" -H "Content-Type: application/json" -d '{"id":"bench","name":"bench","public":false}' "$url/storage/v1/bucket" >/dev/null
    curl -fsS "${auth[@]}" -H "Content-Type: application/octet-stream" --data-binary "@$CELLBASE_TMP/nginx/root/big.bin" "$url/storage/v1/object/bench/big.bin" >/dev/null
    # The bytes that come back are the bytes that went in.
    cmp <(curl -fsS "${auth[@]}" "$url/storage/v1/object/bench/big.bin") "$CELLBASE_TMP/nginx/root/big.bin"

    # 1. 100 MB downloads, four at a time, alternating.
    for round in $(seq 1 "$ROUNDS"); do
        WRK_CONNECTIONS=4 run_wrk "download-cellbase-$round" "$url/storage/v1/object/bench/big.bin" get.lua "$service" /storage/v1/object/bench/big.bin
        WRK_CONNECTIONS=4 run_wrk "download-nginx-$round" "http://127.0.0.1:$NGINX_PORT/big.bin" health.lua
        require_clean "download-cellbase-$round"
        require_clean "download-nginx-$round"
    done

    # 3. 4 KB uploads, each to a new name.
    for round in $(seq 1 "$ROUNDS"); do
        run_wrk "small-cellbase-$round" "$url" upload.lua storage "$service" bench "small-$round"
        run_wrk "small-nginx-$round" "http://127.0.0.1:$NGINX_PORT" upload.lua dav "/dav/small-$round"
        require_clean "small-cellbase-$round"
        require_clean "small-nginx-$round"
    done

    # 2. A 1 GB upload streamed from a pipe, the node's RSS sampled meanwhile.
    rss_kib "$pid" >"$RAW_DIR/huge-rss-before.txt"
    : >"$RAW_DIR/huge-rss-samples.txt"
    head -c "$((HUGE_MB * 1024 * 1024))" /dev/zero | curl -fsS "${auth[@]}" -H "Content-Type: application/octet-stream" \
        -H "Transfer-Encoding: chunked" -T - -X POST "$url/storage/v1/object/bench/huge.bin" -o "$RAW_DIR/huge-answer.json" \
        -w '%{time_total}\n' >"$RAW_DIR/huge-seconds.txt" &
    local uploader=$!
    while kill -0 "$uploader" 2>/dev/null; do rss_kib "$pid" >>"$RAW_DIR/huge-rss-samples.txt"; sleep 0.2; done
    wait "$uploader"
    curl -fsS "${auth[@]}" "$url/storage/v1/object/info/bench/huge.bin" >"$RAW_DIR/huge-info.json"
    echo "curl -T - -H 'Transfer-Encoding: chunked' -X POST http://127.0.0.1:PORT/storage/v1/object/bench/huge.bin   # 1 GiB of zeros from a pipe" >>"$COMMANDS_FILE"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
mbps() { awk -v r="$1" -v mb="$BIG_MB" 'BEGIN { printf "%.0f", r * mb }'; }

report() {
    local cellbase nginx small_cb small_ng
    cellbase=$(for round in $(seq 1 "$ROUNDS"); do result "download-cellbase-$round" rps; done | median)
    nginx=$(for round in $(seq 1 "$ROUNDS"); do result "download-nginx-$round" rps; done | median)
    small_cb=$(for round in $(seq 1 "$ROUNDS"); do result "small-cellbase-$round" rps; done | median)
    small_ng=$(for round in $(seq 1 "$ROUNDS"); do result "small-nginx-$round" rps; done | median)
    local before peak size seconds
    before=$(cat "$RAW_DIR/huge-rss-before.txt")
    peak=$(sort -n "$RAW_DIR/huge-rss-samples.txt" | tail -n 1)
    size=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["size"])' "$RAW_DIR/huge-info.json")
    seconds=$(cat "$RAW_DIR/huge-seconds.txt")
    {
        echo "# Storage (local disk backend)"
        echo
        echo "Measured by \`benchmarks/storage.sh\` in one run: $(cat "$MACHINE_FILE")."
        echo "One Cellbase node (release build, SQLite project) and nginx $(nginx -v 2>&1 | sed 's#.*/##') on loopback; wrk on the same machine."
        echo
        echo "## Downloading a $BIG_MB MB object"
        echo
        echo "The same $BIG_MB MB file of random bytes: uploaded to a private bucket and downloaded with the service key from Cellbase"
        echo "(\`GET /storage/v1/object/bench/big.bin\`, streamed from disk), and served by nginx from its root (\`sendfile on\`)."
        echo "wrk with 2 threads and 4 connections for $WRK_SECONDS s per round, every answer a 200; $ROUNDS rounds alternating."
        echo
        echo "| round | Cellbase | nginx |"
        echo "|---|---|---|"
        for round in $(seq 1 "$ROUNDS"); do
            echo "| $round | $(result "download-cellbase-$round" rps) downloads/s = $(mbps "$(result "download-cellbase-$round" rps)") MB/s | $(result "download-nginx-$round" rps) downloads/s = $(mbps "$(result "download-nginx-$round" rps)") MB/s |"
        done
        echo
        echo "| median Cellbase | median nginx | ratio | target |"
        echo "|---|---|---|---|"
        echo "| $(mbps "$cellbase") MB/s | $(mbps "$nginx") MB/s | $(ratio "$cellbase" "$nginx") | ≥ 0.7: $(verdict "$(ratio "$cellbase" "$nginx")" 0.7) |"
        echo
        echo "## Memory during a 1 GiB upload"
        echo
        echo "1 GiB of zeros piped into \`curl -T -\` (chunked, so the node cannot know the size in advance) as a raw-body upload;"
        echo "the node's RSS read from \`/proc/PID/status\` every 0.2 s while it ran."
        echo
        echo "| object stored | upload time | RSS before | peak RSS during the upload |"
        echo "|---|---|---|---|"
        echo "| $(fmt "$size") bytes | $seconds s | $(awk -v k="$before" 'BEGIN { printf "%.1f", k / 1024 }') MiB | $(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }') MiB |"
        echo
        echo "## 4 KB uploads"
        echo
        echo "wrk with 2 threads and $WRK_CONNECTIONS connections for $WRK_SECONDS s per round, each request a 4,096-byte body under a new name."
        echo "Cellbase: \`POST /storage/v1/object/bench/small-R/T-N.bin\` — the file written to a temporary name, fsync'd, renamed, its directory"
        echo "fsync'd, and the object's row committed before the answer. nginx: WebDAV \`PUT /dav/small-R/T-N.bin\`, which writes the file and does not fsync."
        echo
        echo "| round | Cellbase uploads/s (p99) | nginx PUTs/s (p99) |"
        echo "|---|---|---|"
        for round in $(seq 1 "$ROUNDS"); do
            echo "| $round | $(fmt "$(result "small-cellbase-$round" rps)") ($(result "small-cellbase-$round" p99_ms) ms) | $(fmt "$(result "small-nginx-$round" rps)") ($(result "small-nginx-$round" p99_ms) ms) |"
        done
        echo
        echo "| median Cellbase | median nginx | ratio |"
        echo "|---|---|---|"
        echo "| $(fmt "$small_cb") uploads/s | $(fmt "$small_ng") PUTs/s | $(ratio "$small_cb" "$small_ng") |"
        echo
        echo "## Commands"
        echo
        echo '```'
        echo "benchmarks/storage.sh"
        echo "swift build -c release --scratch-path .build-release --product cellbase"
        echo "cellbase serve --data DATA --port PORT --mqtt-port MQTT_PORT --storage-max-object-bytes 2147483648"
        echo "nginx -c nginx.conf   # root with big.bin, sendfile on; location /dav/ { dav_methods PUT; create_full_put_path on; }"
        cat "$COMMANDS_FILE"
        echo '```'
    } >"$RESULTS_DIR/storage.md"
    log "wrote $RESULTS_DIR/storage.md"
    cat "$RESULTS_DIR/storage.md"
}

if [ "${1:-}" != "--report" ]; then run_all; fi
report
