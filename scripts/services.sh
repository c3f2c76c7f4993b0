# Shared by scripts/test and benchmarks/: install and run the servers Cellbase is tested against,
# on loopback, in a temporary folder. Source it; call start_postgres, start_moto, start_redis / stop_services.

CELLBASE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ $apt_updated = 0 ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

CELLBASE_TMP="${CELLBASE_TMP:-$(mktemp -d /tmp/cellbase-services.XXXXXX)}"
chmod 755 "$CELLBASE_TMP"

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] || { echo "PostgreSQL server binaries not found" >&2; return 1; }
    echo "$dir"
}

# Runs a PostgreSQL binary as the unprivileged 'postgres' user when we are root (initdb refuses root).
pg_run() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Starts PostgreSQL on a free loopback port; exports CELLBASE_TEST_POSTGRES_URL and PG_PORT.
start_postgres() {
    apt_install postgresql postgresql-contrib
    local bin
    bin=$(pg_bin)
    PG_DIR="$CELLBASE_TMP/postgres"
    PG_PORT=$(free_port)
    mkdir -p "$PG_DIR"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR"
    log "PostgreSQL on 127.0.0.1:$PG_PORT ($PG_DIR)"
    pg_run "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$CELLBASE_TMP/initdb.log" 2>&1 \
        || { cat "$CELLBASE_TMP/initdb.log" >&2; return 1; }
    pg_run "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=1000 -c fsync=on -c shared_buffers=256MB" start >/dev/null \
        || { cat "$PG_DIR/server.log" >&2; return 1; }
    pg_run "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -q -c "CREATE ROLE cellbase LOGIN PASSWORD 'cellbase' SUPERUSER" >/dev/null
    pg_run "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -q -c "CREATE DATABASE cellbase OWNER cellbase" >/dev/null
    export PG_PORT PG_DIR
    PG_BIN="$bin"
    export PG_BIN
    export CELLBASE_TEST_POSTGRES_URL="postgres://cellbase:cellbase@127.0.0.1:$PG_PORT/cellbase"
}

# Creates another database on the running PostgreSQL and prints its URL.
create_postgres_database() {
    local name=$1
    pg_run "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -q -c "CREATE DATABASE $name OWNER cellbase" >/dev/null
    echo "postgres://cellbase:cellbase@127.0.0.1:$PG_PORT/$name"
}

stop_postgres() {
    [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ] || return 0
    pg_run "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

# A Python virtualenv with the real Supabase client, pinned.
ensure_python_env() {
    apt_install python3-venv
    VENV="$CELLBASE_ROOT/.venv"
    if [ ! -x "$VENV/bin/python" ]; then
        log "python venv $VENV"
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$CELLBASE_ROOT/compat/requirements.txt"
}

# Starts moto's S3-compatible server on a free loopback port, from the venv of
# ensure_python_env (compat/requirements.txt pins moto[server]); exports CELLBASE_TEST_S3_URL.
start_moto() {
    local port
    port=$(free_port)
    log "moto (S3) on 127.0.0.1:$port"
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$CELLBASE_TMP/moto.log" 2>&1 &
    MOTO_PID=$!
    for _ in $(seq 1 200); do
        if curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1; then
            export CELLBASE_TEST_S3_URL="http://127.0.0.1:$port"
            return 0
        fi
        sleep 0.1
    done
    cat "$CELLBASE_TMP/moto.log" >&2
    echo "moto did not become ready" >&2
    return 1
}

stop_moto() {
    [ -n "${MOTO_PID:-}" ] || return 0
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
}

# Starts redis-server on a free loopback port, without persistence, in $CELLBASE_TMP/redis;
# exports CELLBASE_TEST_REDIS_URL.
start_redis() {
    apt_install redis-server
    local port
    port=$(free_port)
    mkdir -p "$CELLBASE_TMP/redis"
    log "Redis on 127.0.0.1:$port"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$CELLBASE_TMP/redis" \
        --daemonize no >"$CELLBASE_TMP/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 200); do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
            export CELLBASE_TEST_REDIS_URL="redis://127.0.0.1:$port"
            return 0
        fi
        sleep 0.1
    done
    cat "$CELLBASE_TMP/redis.log" >&2
    echo "Redis did not become ready" >&2
    return 1
}

stop_redis() {
    [ -n "${REDIS_PID:-}" ] || return 0
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
}

CELLBASE_PIDS=()

# Starts `cellbase serve` in the background: start_cellbase NAME DATA_DIR [flags...]; sets
# CELLBASE_URL_<NAME> and CELLBASE_MQTT_PORT_<NAME> (each node gets a free MQTT port of its own).
start_cellbase() {
    local name=$1 data=$2
    shift 2
    local port mqtt_port
    port=$(free_port)
    mqtt_port=$(free_port)
    export "CELLBASE_MQTT_PORT_$name=$mqtt_port"
    "$CELLBASE_BIN" serve --data "$data" --port "$port" --mqtt-port "$mqtt_port" "$@" >"$CELLBASE_TMP/cellbase-$name.log" 2>&1 &
    CELLBASE_PIDS+=($!)
    for _ in $(seq 1 200); do
        if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then
            export "CELLBASE_URL_$name=http://127.0.0.1:$port"
            return 0
        fi
        sleep 0.1
    done
    cat "$CELLBASE_TMP/cellbase-$name.log" >&2
    echo "cellbase ($name) did not become ready" >&2
    return 1
}

stop_services() {
    for pid in "${CELLBASE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${CELLBASE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    stop_moto
    stop_redis
    stop_postgres
    rm -rf "$CELLBASE_TMP"
}
