#!/usr/bin/env bash
# The gateway against nginx, measured in one run on this machine:
#   single-row REST reads (benchmarks/wrk/read.lua) of a project on a PostgreSQL shard, through
#   `cellbase gateway` proxying to the two nodes of its cell with per-project and per-address rate
#   limiting on — limits far above the load, so every request is charged and none refused —
#   vs  nginx (least_conn, keep-alive upstream pool) proxying the same requests to the same nodes:
#   target >= 0.7 x nginx (anchor: Kong loses about 12 % with its rate-limiting plugin on);
#   the gateway again with the limits shared through Redis (--redis), and one node read directly.
# Three rounds of 20 s each, in turn; medians. Writes benchmarks/results/gateway.md.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap 'stop_nginx; stop_services' EXIT

ROWS=1000
ROUNDS=${GATEWAY_ROUNDS:-3}
LIMIT=1000000:1000000

start_nginx() { # start_nginx UPSTREAM_PORT...
    NGINX_PORT=$(free_port)
    mkdir -p "$CELLBASE_TMP/nginx/tmp"
    chmod 777 "$CELLBASE_TMP/nginx/tmp"
    NGINX_PID_FILE="$CELLBASE_TMP/nginx/nginx.pid"
    local servers="" port
    for port in "$@"; do servers+="server 127.0.0.1:$port; "; done
    cat >"$CELLBASE_TMP/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $NGINX_PID_FILE;
error_log $CELLBASE_TMP/nginx/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $CELLBASE_TMP/nginx/tmp;
    proxy_temp_path $CELLBASE_TMP/nginx/tmp;
    fastcgi_temp_path $CELLBASE_TMP/nginx/tmp;
    uwsgi_temp_path $CELLBASE_TMP/nginx/tmp;
    scgi_temp_path $CELLBASE_TMP/nginx/tmp;
    upstream nodes { least_conn; $servers keepalive 64; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://nodes;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$remote_addr;
        }
    }
}
CONF
    nginx -c "$CELLBASE_TMP/nginx/nginx.conf"
    for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/health/live" 2>/dev/null && return 0; sleep 0.1; done
    cat "$CELLBASE_TMP/nginx/error.log" >&2
    return 1
}


start_gateway() { # start_gateway NAME [flags...]: sets GATEWAY_URL_<NAME>
    local name=$1 port
    shift
    port=$(free_port)
    "$CELLBASE_BIN" gateway --control "$CELLBASE_TEST_POSTGRES_URL" --port "$port" \
        --project-rate-limit "$LIMIT" --address-rate-limit "$LIMIT" "$@" >"$CELLBASE_TMP/gateway-$name.log" 2>&1 &
    CELLBASE_PIDS+=($!)
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then
            export "GATEWAY_URL_$name=http://127.0.0.1:$port"
            return 0
        fi
        sleep 0.1
    done
    cat "$CELLBASE_TMP/gateway-$name.log" >&2
    return 1
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

begin_run wrk nginx postgresql postgresql-contrib
start_postgres
start_redis
start_cellbase A "$CELLBASE_TMP/data-a" --control "$CELLBASE_TEST_POSTGRES_URL" --shard "pg=$CELLBASE_TEST_POSTGRES_URL" --default-shard pg
start_cellbase B "$CELLBASE_TMP/data-b" --control "$CELLBASE_TEST_POSTGRES_URL" --shard "pg=$CELLBASE_TEST_POSTGRES_URL" --default-shard pg
echo "cellbase serve --data DATA_A --port PORT --mqtt-port PORT --control POSTGRES_URL --shard pg=POSTGRES_URL --default-shard pg   # and node B alike" >>"$COMMANDS_FILE"
read -r _ ANON SERVICE <<<"$(setup project "$CELLBASE_URL_A" "$(admin_token "$CELLBASE_TMP/data-a")" bench_gateway "$ITEMS_SQL")"
setup load "$CELLBASE_URL_A" "$SERVICE" items 1 "$ROWS"
start_gateway LOCAL
start_gateway REDIS --redis "$CELLBASE_TEST_REDIS_URL"
echo "cellbase gateway --control POSTGRES_URL --port PORT --project-rate-limit $LIMIT --address-rate-limit $LIMIT [--redis REDIS_URL]" >>"$COMMANDS_FILE"
start_nginx "${CELLBASE_URL_A##*:}" "${CELLBASE_URL_B##*:}"
echo "nginx: upstream { least_conn; server NODE_A; server NODE_B; keepalive 64; }, proxy_http_version 1.1, worker_processes 2" >>"$COMMANDS_FILE"
# Every path answers the same rows before anything is timed.
for url in "$GATEWAY_URL_LOCAL" "$GATEWAY_URL_REDIS" "http://127.0.0.1:$NGINX_PORT" "$CELLBASE_URL_A"; do setup check "$url" "$ANON" "$ROWS"; done

for round in $(seq 1 "$ROUNDS"); do
    run_wrk "gateway-$round" "$GATEWAY_URL_LOCAL/rest/v1/items" read.lua "$ANON" "$ROWS"
    run_wrk "nginx-$round" "http://127.0.0.1:$NGINX_PORT/rest/v1/items" read.lua "$ANON" "$ROWS"
    run_wrk "gateway-redis-$round" "$GATEWAY_URL_REDIS/rest/v1/items" read.lua "$ANON" "$ROWS"
    run_wrk "direct-$round" "$CELLBASE_URL_A/rest/v1/items" read.lua "$ANON" "$ROWS"
    for run in gateway nginx gateway-redis direct; do require_clean "$run-$round"; done
done
figure() { for round in $(seq 1 "$ROUNDS"); do result "$1-$round" rps; done | median; }
latency() { for round in $(seq 1 "$ROUNDS"); do result "$1-$round" p99_ms; done | median; }
GATEWAY=$(figure gateway); NGINX=$(figure nginx); REDIS=$(figure gateway-redis); DIRECT=$(figure direct)
{
    echo "# Gateway against nginx"
    echo
    echo "Measured by \`benchmarks/gateway.sh\` in one run: $(cat "$MACHINE_FILE")."
    echo "Binary: \`${CELLBASE_BIN/#$CELLBASE_ROOT\//}\`. Two nodes of one cell on one PostgreSQL 15 shard, the gateways, nginx, Redis and wrk all on"
    echo "this machine's two cores, on loopback. Single-row reads by primary key of a $ROWS-row table (\`benchmarks/wrk/read.lua\`),"
    echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${WRK_SECONDS}s, $ROUNDS rounds in turn, medians. The gateways charge every request to a"
    echo "project bucket and an address bucket ($LIMIT, so none is refused)."
    echo
    echo "| path | requests/s (median) | p99 ms (median) | ratio to nginx | target |"
    echo "|---|---:|---:|---:|---|"
    echo "| nginx → two nodes (least_conn, keep-alive) | $(fmt "$NGINX") | $(latency nginx) | 1.00 | reference |"
    echo "| \`cellbase gateway\`, limits in memory → two nodes | $(fmt "$GATEWAY") | $(latency gateway) | $(ratio "$GATEWAY" "$NGINX") | ≥ 0.7: $(verdict "$(ratio "$GATEWAY" "$NGINX")" 0.7) |"
    echo "| \`cellbase gateway --redis\`, limits shared → two nodes | $(fmt "$REDIS") | $(latency gateway-redis) | $(ratio "$REDIS" "$NGINX") | ≥ 0.7: $(verdict "$(ratio "$REDIS" "$NGINX")" 0.7) |"
    echo "| one node, no proxy | $(fmt "$DIRECT") | $(latency direct) | $(ratio "$DIRECT" "$NGINX") | for scale |"
    echo
    echo "Commands (\`benchmarks/results/raw/gateway-commands.txt\`):"
    echo
    echo '```'
    cat "$COMMANDS_FILE"
    echo '```'
} >"$RESULTS_DIR/gateway.md"
log "wrote $RESULTS_DIR/gateway.md"
