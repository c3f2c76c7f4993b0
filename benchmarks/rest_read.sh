#!/usr/bin/env bash
# REST single-row reads against their peers, measured in one run on this machine:
#   /health/live of the same node        (the HTTP stack alone: target SQLite read >= 0.5x)
#   GET /rest/v1/items?id=eq.N&select=*  on SQLite and on a PostgreSQL shard, N rotating
#   pgbench -S at the same client count  (PostgreSQL alone: target PostgreSQL read >= 0.5x)
#   the same read spread round-robin over 1,000 SQLite projects
# first with 1,000 rows, then with 1,000,000 rows. Writes benchmarks/results/rest-read.md.
# Everything runs on loopback, each load is bounded (wrk and pgbench run 20 s), and every process
# started here is stopped on exit. `rest_read.sh --report` rewrites the report from the raw output
# of the last run without measuring again.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap stop_services EXIT

PROJECTS=1000
ROWS_PER_PROJECT=100

# measure PHASE FIRST LAST: loads items FIRST..LAST on both nodes, checks a row, runs every measurement.
measure() {
    local phase=$1 first=$2 last=$3
    log "loading items $first..$last"
    setup load "$CELLBASE_URL_SQLITE" "$SQLITE_SERVICE" items "$first" "$last"
    setup load "$CELLBASE_URL_POSTGRES" "$POSTGRES_SERVICE" items "$first" "$last"
    for node in "$CELLBASE_URL_SQLITE $SQLITE_ANON" "$CELLBASE_URL_POSTGRES $POSTGRES_ANON"; do
        read -r url key <<<"$node"
        [ "$(setup count "$url" "$key" items)" = "$last" ]
        setup check "$url" "$key" "$last"
    done

    run_wrk "$phase-health" "$CELLBASE_URL_SQLITE/health/live" health.lua
    run_wrk "$phase-sqlite" "$CELLBASE_URL_SQLITE/rest/v1/items" read.lua "$SQLITE_ANON" "$last"
    run_wrk "$phase-postgres" "$CELLBASE_URL_POSTGRES/rest/v1/items" read.lua "$POSTGRES_ANON" "$last"
    for run in health sqlite postgres; do require_clean "$phase-$run"; done

    log "pgbench -S ($phase)"
    "${PGBENCH[@]}" -S -c "$WRK_CONNECTIONS" -j "$WRK_THREADS" -T "$WRK_SECONDS" pgbench >"$RAW_DIR/$phase-pgbench.txt" 2>&1
}

run_all() {
    begin_run_with_postgres
    create_postgres_database pgbench >/dev/null
    start_cellbase SQLITE "$CELLBASE_TMP/data-sqlite"
    start_cellbase POSTGRES "$CELLBASE_TMP/data-postgres" --shard "pg=$CELLBASE_TEST_POSTGRES_URL" --default-shard pg
    SQLITE_TOKEN=$(admin_token "$CELLBASE_TMP/data-sqlite")
    POSTGRES_TOKEN=$(admin_token "$CELLBASE_TMP/data-postgres")

    created=$(setup project "$CELLBASE_URL_SQLITE" "$SQLITE_TOKEN" bench_items "$ITEMS_SQL")
    read -r _ SQLITE_ANON SQLITE_SERVICE <<<"$created"
    created=$(setup project "$CELLBASE_URL_POSTGRES" "$POSTGRES_TOKEN" bench_items "$ITEMS_SQL")
    read -r _ POSTGRES_ANON POSTGRES_SERVICE <<<"$created"

    PGBENCH=("$(pg_bin)/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U cellbase)
    log "pgbench -i -s 10"
    "${PGBENCH[@]}" -i -s 10 -q pgbench >"$RAW_DIR/pgbench-init.txt" 2>&1

    measure 1k 1 1000
    measure 1m 1001 1000000

    log "creating $PROJECTS projects with $ROWS_PER_PROJECT items each"
    KEYS_FILE="$CELLBASE_TMP/project-keys.txt"
    setup projects "$CELLBASE_URL_SQLITE" "$SQLITE_TOKEN" "$PROJECTS" "$ROWS_PER_PROJECT" "$ITEMS_SQL" "$KEYS_FILE"
    [ "$(wc -l <"$KEYS_FILE")" = "$PROJECTS" ]
    setup check "$CELLBASE_URL_SQLITE" "$(tail -n 1 "$KEYS_FILE")" "$ROWS_PER_PROJECT"
    run_wrk projects "$CELLBASE_URL_SQLITE/rest/v1/items" read_projects.lua "$KEYS_FILE" "$ROWS_PER_PROJECT"
    require_clean projects
}

tps() { sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$RAW_DIR/$1-pgbench.txt"; }

row() { # row DATA WHAT RUN REFERENCE_NAME REFERENCE_VALUE [TARGET]
    local figure ratio_value target="—"
    figure=$(result "$3" rps)
    ratio_value=$(ratio "$figure" "$5")
    [ -n "${6:-}" ] && target="≥ $6: $(verdict "$ratio_value" "$6")"
    echo "| $1 | $2 | $(fmt "$figure") req/s (p50 $(result "$3" p50_ms) ms, p99 $(result "$3" p99_ms) ms) | $4 $(fmt "$5") | $ratio_value | $target |"
}

[ "${1:-}" = --report ] || run_all
{
    echo "# REST single-row read"
    echo
    echo "Measured by \`benchmarks/rest_read.sh\` in one run: $(cat "$MACHINE_FILE")."
    echo "Every figure is wrk with $WRK_THREADS threads and $WRK_CONNECTIONS connections for $WRK_SECONDS s on loopback,"
    echo "with every answer a 2xx (a run with any other answer fails the script); the client shares the 2 cores with the server."
    echo
    echo "| data | measurement | figure | reference | ratio | target |"
    echo "|---|---|---|---|---|---|"
    for phase in 1k 1m; do
        label=$([ "$phase" = 1k ] && echo "1,000 rows" || echo "1,000,000 rows")
        echo "| $label | \`GET /health/live\`, SQLite node | $(fmt "$(result "$phase-health" rps)") req/s (p50 $(result "$phase-health" p50_ms) ms, p99 $(result "$phase-health" p99_ms) ms) | | | |"
        row "$label" "REST read by id, SQLite" "$phase-sqlite" "/health/live" "$(result "$phase-health" rps)" 0.5
        echo "| $label | \`pgbench -S\`, $WRK_CONNECTIONS clients, scale 10 | $(fmt "$(tps "$phase")") TPS | | | |"
        row "$label" "REST read by id, PostgreSQL shard" "$phase-postgres" "pgbench -S" "$(tps "$phase")" 0.5
    done
    row "$(fmt "$PROJECTS") projects × $ROWS_PER_PROJECT rows" "REST read by id, round-robin over projects, SQLite" projects "/health/live (1,000,000-row phase)" "$(result 1m-health rps)"
    echo
    echo "The round-robin run touches a different project on every request, more projects than the node keeps"
    echo "open at once (256 SQLite files by default), so it also measures opening project databases."
    echo
    echo "## Commands"
    echo
    echo '```'
    echo "benchmarks/rest_read.sh"
    echo "swift build -c release --scratch-path .build-release --product cellbase"
    echo "cellbase serve --data DATA_SQLITE --port PORT"
    echo "cellbase serve --data DATA_POSTGRES --port PORT --shard pg=postgres://cellbase:cellbase@127.0.0.1:PG_PORT/cellbase --default-shard pg"
    echo "# table: $ITEMS_SQL_LINE"
    echo "# rows loaded through POST /rest/v1/items in batches of 10,000 (benchmarks/bench_setup.py load)"
    cat "$COMMANDS_FILE"
    echo "pgbench -i -s 10 -q pgbench"
    echo "pgbench -S -c $WRK_CONNECTIONS -j $WRK_THREADS -T $WRK_SECONDS pgbench"
    echo '```'
} >"$RESULTS_DIR/rest-read.md"
log "wrote $RESULTS_DIR/rest-read.md"
cat "$RESULTS_DIR/rest-read.md"
