#!/usr/bin/env bash
# Auth and row-level security, measured in one run on this machine, on a SQLite node and on a
# node whose projects live on a PostgreSQL shard:
#   refresh-token grants per second (POST /auth/v1/token?grant_type=refresh_token, every token
#     used once and rotated), against the anchor figure the issue quotes for PocketBase on 2 vCPU;
#   50 password sign-ins at once (bcrypt), their slowest answer against the client's 5 s timeout,
#     with /health/live polled meanwhile;
#   a single-row read as a signed-in user from a table guarded by an owner policy
#     (owner = auth.uid()), against the same read from an identical table with RLS off.
# Writes benchmarks/results/auth.md. Everything runs on loopback, each load is bounded (wrk runs
# 20 s), and every process started here is stopped on exit.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap stop_services EXIT

ROWS=1000
SESSIONS=96            # a pool per wrk thread at least as large as its connections (64 / 2)
EMAIL=bench@example.com
PASSWORD=bench-password-1
POCKETBASE_REFRESH=2900  # PocketBase auth-refresh on 2 vCPU, the anchor quoted by the Auth issue

NOTES_SQL="$CELLBASE_TMP/notes.sql"
cat >"$NOTES_SQL" <<'SQL'
create table notes_open (id bigint primary key, owner uuid not null, body text not null);
create table notes (id bigint primary key, owner uuid not null, body text not null);
alter table notes enable row level security;
create policy "owners read their notes" on notes for select to authenticated using (owner = auth.uid());
SQL

# measure NAME URL DATA: one project with both tables, a user owning every row, then the three runs.
measure() {
    local name=$1 url=$2 data=$3 ref anon service user token
    read -r ref anon service <<<"$(setup project "$url" "$(admin_token "$data")" bench_auth "$NOTES_SQL")"
    read -r user token <<<"$(setup signup "$url" "$anon" "$EMAIL" "$PASSWORD")"
    for table in notes_open notes; do
        setup owned "$url" "$service" "$table" 1 "$ROWS" "$user"
        setup check-note "$url" "$anon" "$token" "$table" "$ROWS"
    done
    log "50 sign-ins at once ($name)"
    setup burst "$url" "$anon" "$EMAIL" "$PASSWORD" 50 >"$RAW_DIR/$name-burst.txt"
    echo "bench_setup.py burst URL ANON_KEY $EMAIL PASSWORD 50   # $name-burst" >>"$COMMANDS_FILE"
    log "$SESSIONS sign-ins ($name)"
    setup sessions "$url" "$anon" "$EMAIL" "$PASSWORD" "$SESSIONS" "$CELLBASE_TMP/refresh-$name.txt"
    run_wrk "$name-refresh" "$url/auth/v1/token" refresh.lua "$anon" "$CELLBASE_TMP/refresh-$name.txt" "$WRK_THREADS"
    run_wrk "$name-open" "$url/rest/v1/notes_open" read_user.lua "$anon" "$token" notes_open "$ROWS"
    run_wrk "$name-rls" "$url/rest/v1/notes" read_user.lua "$anon" "$token" notes "$ROWS"
    for run in refresh open rls; do require_clean "$name-$run"; done
}

run_all() {
    begin_run_with_postgres
    start_cellbase SQLITE "$CELLBASE_TMP/data-sqlite"
    start_cellbase POSTGRES "$CELLBASE_TMP/data-postgres" --shard "pg=$CELLBASE_TEST_POSTGRES_URL" --default-shard pg
    measure sqlite "$CELLBASE_URL_SQLITE" "$CELLBASE_TMP/data-sqlite"
    measure postgres "$CELLBASE_URL_POSTGRES" "$CELLBASE_TMP/data-postgres"
}

row() { # row BACKEND WHAT RUN [REFERENCE_NAME REFERENCE_VALUE TARGET]
    local figure ratio_value="" target="—" reference=""
    figure=$(result "$3" rps)
    if [ -n "${5:-}" ]; then
        ratio_value=$(ratio "$figure" "$5")
        reference="$4 $(fmt "$5")"
        [ -n "${6:-}" ] && target="≥ $6: $(verdict "$ratio_value" "$6")"
    fi
    echo "| $1 | $2 | $(fmt "$figure") req/s (p50 $(result "$3" p50_ms) ms, p99 $(result "$3" p99_ms) ms) | $reference | $ratio_value | $target |"
}

# burst_field BACKEND FIELD: a field of the burst line of a backend.
burst_field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" "$RAW_DIR/$1-burst.txt"; }

report() {
    {
        echo "# Auth and row-level security"
        echo
        echo "Measured by \`benchmarks/auth.sh\` in one run: $(cat "$MACHINE_FILE")."
        echo "Every figure is wrk with $WRK_THREADS threads and $WRK_CONNECTIONS connections for $WRK_SECONDS s on loopback,"
        echo "with every answer a 2xx (a run with any other answer fails the script); the client shares the 2 cores with the server."
        echo "The PocketBase figure is not measured here (PocketBase is not installable on this machine): it is the"
        echo "anchor the Auth issue quotes for PocketBase's token refresh on 2 vCPU."
        echo
        echo "| shard | measurement | figure | reference | ratio | target |"
        echo "|---|---|---|---|---|---|"
        for backend in sqlite postgres; do
            row "$backend" "refresh-token grant (rotating)" "$backend-refresh" "PocketBase (quoted)" "$POCKETBASE_REFRESH"
            row "$backend" "read by id as a user, RLS off" "$backend-open"
            row "$backend" "read by id as a user, owner policy" "$backend-rls" "RLS off" "$(result "$backend-open" rps)" 0.8
        done
        echo
        echo "50 password sign-ins released at once (bcrypt cost 10; supabase-py's Auth timeout is 5 s), while"
        echo "another client polls \`/health/live\` of the same node (it must keep answering while bcrypt runs):"
        echo
        echo "| shard | sign-in median | slowest sign-in | target | \`/health/live\` during the burst (median / slowest) |"
        echo "|---|---|---|---|---|"
        for backend in sqlite postgres; do
            slowest=$(burst_field "$backend" max_s)
            echo "| $backend | $(burst_field "$backend" median_s) s | $slowest s | < 5 s: $(awk -v s="$slowest" 'BEGIN { print (s < 5 ? "met" : "missed") }') | $(burst_field "$backend" health_median_ms) ms / $(burst_field "$backend" health_max_ms) ms ($(burst_field "$backend" health_polls) polls) |"
        done
        echo
        echo "## Commands"
        echo
        echo '```'
        echo "benchmarks/auth.sh"
        echo "swift build -c release --scratch-path .build-release --product cellbase"
        echo "cellbase serve --data DATA_SQLITE --port PORT"
        echo "cellbase serve --data DATA_POSTGRES --port PORT --shard pg=postgres://cellbase:cellbase@127.0.0.1:PG_PORT/cellbase --default-shard pg"
        echo "# migration:"
        sed 's/^/#   /' "$NOTES_SQL"
        echo "# one user owns all $ROWS rows of each table; $SESSIONS password sign-ins give the refresh tokens"
        cat "$COMMANDS_FILE"
        echo '```'
    } >"$RESULTS_DIR/auth.md"
    log "wrote $RESULTS_DIR/auth.md"
    cat "$RESULTS_DIR/auth.md"
}

if [ "${1:-}" != "--report" ]; then run_all; fi
report
