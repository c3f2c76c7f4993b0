#!/usr/bin/env bash
# REST single-row inserts on SQLite: wrk POSTs one row per request to /rest/v1/items
# (Prefer: return=minimal) on 64 connections for 20 s, counting the 201 answers; then the table's
# row count must equal that count exactly (no acknowledged insert lost, none invented).
# Target: >= 5,000 rows/s. Writes benchmarks/results/rest-insert.md. Loopback only, bounded,
# and every process started here is stopped on exit.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap stop_services EXIT

# wrk sends inserts for the first WRITE_SECONDS, then /health/live until it stops, so that no
# insert is still in flight when wrk abandons its connections (see wrk/insert.lua).
WRITE_SECONDS=$((WRK_SECONDS - 3))

apt_install curl ca-certificates wrk
mkdir -p "$RAW_DIR"
: >"$COMMANDS_FILE"
build_release
start_cellbase SQLITE "$CELLBASE_TMP/data-sqlite"
created=$(setup project "$CELLBASE_URL_SQLITE" "$(admin_token "$CELLBASE_TMP/data-sqlite")" bench_insert "$ITEMS_SQL")
read -r _ ANON SERVICE <<<"$created"
[ "$(setup count "$CELLBASE_URL_SQLITE" "$SERVICE" items)" = 0 ]

run_wrk insert "$CELLBASE_URL_SQLITE/rest/v1/items" insert.lua "$ANON" "$WRITE_SECONDS"
require_clean insert

CREATED=$(result insert created)
ROWS=$(setup count "$CELLBASE_URL_SQLITE" "$SERVICE" items)
SPAN=$(setup span "$CELLBASE_URL_SQLITE" "$SERVICE" items)
if [ "$ROWS" -lt "$CREATED" ]; then
    echo "LOST WRITES: $CREATED inserts answered 201 but the table has $ROWS rows" >&2
    exit 1
elif [ "$ROWS" -gt "$CREATED" ]; then
    echo "$ROWS rows for $CREATED answers: inserts were still in flight when wrk stopped; rerun" >&2
    exit 1
fi
RATE=$(awk -v n="$CREATED" -v s="$SPAN" 'BEGIN { printf "%.1f", n / s }')
WINDOW_RATE=$(awk -v n="$CREATED" -v s="$WRITE_SECONDS" 'BEGIN { printf "%.1f", n / s }')

{
    echo "# REST single-row insert, SQLite"
    echo
    echo "Measured by \`benchmarks/rest_insert.sh\`: $(machine_line)."
    echo "wrk with $WRK_THREADS threads and $WRK_CONNECTIONS connections on loopback, one row per \`POST /rest/v1/items\`"
    echo "(\`Prefer: return=minimal\`, anon key), inserts for the first $WRITE_SECONDS s of a $WRK_SECONDS s run."
    echo
    echo "| measurement | figure | target |"
    echo "|---|---|---|"
    echo "| inserts answered 201 | $CREATED (every answer 2xx) | |"
    echo "| rows in the table afterwards | $ROWS (equal to the 201 answers) | equal |"
    echo "| rows/s, by the rows' own \`created_at\` span ($SPAN s) | $(fmt "$RATE") | ≥ 5,000: $(verdict "$RATE" 5000) |"
    echo "| rows/s, by wrk's insert window ($WRITE_SECONDS s, 1 s resolution) | $(fmt "$WINDOW_RATE") | |"
    echo
    echo "## Commands"
    echo
    echo '```'
    echo "benchmarks/rest_insert.sh"
    echo "swift build -c release --scratch-path .build-release --product cellbase"
    echo "cellbase serve --data DATA_SQLITE --port PORT"
    echo "# table: $ITEMS_SQL_LINE"
    cat "$COMMANDS_FILE"
    echo "GET /rest/v1/items?select=id&limit=1 with Prefer: count=exact   # row count afterwards"
    echo '```'
} >"$RESULTS_DIR/rest-insert.md"
log "wrote $RESULTS_DIR/rest-insert.md"
cat "$RESULTS_DIR/rest-insert.md"
