#!/usr/bin/env bash
# A table exported as CSV into Storage against a reference, measured in one run on this machine:
#   POST /jobs/v1/exports of EXPORT_ROWS rows (1,000,000) on SQLite: seconds, rows/s, and the
#   node's resident memory above its level before the export, sampled every 50 ms
#   vs  a Python loop writing the same columns as CSV straight from the project's SQLite file
#       (csv module): seconds, rows/s, its peak resident memory
# Writes benchmarks/results/export.md. Uses $CELLBASE_BIN when set, else builds release.
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap stop_services EXIT

ROWS=${EXPORT_ROWS:-1000000}
field() { python3 -c 'import json, sys; v = json.load(open(sys.argv[1])); [v := v[k] for k in sys.argv[2:]]; print(v)' "$@"; }
per_second() { python3 -c 'import sys; print(round(float(sys.argv[1]) / float(sys.argv[2])))' "$@"; }
mib() { python3 -c 'import sys; print(f"{float(sys.argv[1]) / 1024:.1f}")' "$@"; }

mkdir -p "$RAW_DIR"
: >"$COMMANDS_FILE"
machine_line >"$MACHINE_FILE"
if [ -z "${CELLBASE_BIN:-}" ]; then build_release; fi
log "cellbase: $CELLBASE_BIN"
start_cellbase SQLITE "$CELLBASE_TMP/data-sqlite"
echo "cellbase serve --data DATA_SQLITE --port PORT --mqtt-port PORT" >>"$COMMANDS_FILE"
log "export of $ROWS rows"
(cd "$BENCH_DIR" && python3 export_bench.py export "$CELLBASE_URL_SQLITE=$(admin_token "$CELLBASE_TMP/data-sqlite")" \
    "${CELLBASE_PIDS[0]}" "$CELLBASE_TMP/data-sqlite" "$ROWS") >"$RAW_DIR/export.json"
echo "export_bench.py export URL=ADMIN_TOKEN NODE_PID DATA_SQLITE $ROWS   # seed through /rest/v1, then POST /jobs/v1/exports; reference: python3 csv from the project's .db" >>"$COMMANDS_FILE"

R="$RAW_DIR/export.json"
CB_SECONDS=$(field "$R" cellbase seconds)
REF_SECONDS=$(field "$R" reference seconds)
CB_RATE=$(per_second "$ROWS" "$CB_SECONDS")
REF_RATE=$(per_second "$ROWS" "$REF_SECONDS")
GROWTH=$(( $(field "$R" cellbase rss_peak_kib) - $(field "$R" cellbase rss_baseline_kib) ))
{
    echo "# Exports: a table as CSV into Storage"
    echo
    echo "Measured by \`benchmarks/export.sh\` in one run: $(cat "$MACHINE_FILE")."
    echo "Binary: \`${CELLBASE_BIN/#$CELLBASE_ROOT\//}\`. Everything on loopback."
    echo
    echo "| measurement | Cellbase | reference | ratio |"
    echo "|---|---|---|---|"
    echo "| export of $(fmt "$ROWS") rows (4 columns), rows/s | $(fmt "$CB_RATE") ($(printf '%.1f' "$CB_SECONDS") s, $(fmt "$(field "$R" cellbase bytes)") bytes) | Python \`csv\` straight from the SQLite file: $(fmt "$REF_RATE") ($(printf '%.1f' "$REF_SECONDS") s, $(fmt "$(field "$R" reference bytes)") bytes) | $(ratio "$CB_RATE" "$REF_RATE") |"
    echo "| memory while exporting | node RSS $(mib "$(field "$R" cellbase rss_baseline_kib)") MiB before, $(mib "$(field "$R" cellbase rss_peak_kib)") MiB at peak: +$(mib "$GROWTH") MiB | the Python process's peak RSS: $(mib "$(field "$R" reference max_rss_kib)") MiB | — |"
    echo
    echo "- The Cellbase time runs from \`POST /jobs/v1/exports\` to the job showing \`completed\` (polled"
    echo "  every 50 ms) and includes writing the file into the bucket and signing its URL; the file is then"
    echo "  downloaded through its signed URL and must hold the header and every row."
    echo "- The node's RSS is read from \`/proc/PID/status\` every 50 ms during the export."
    echo "- Seeding the table through \`POST /rest/v1/items\` in batches of 5,000 took $(printf '%.1f' "$(field "$R" seed_seconds)") s (not part of the figures)."
    echo
    echo "## Commands"
    echo
    echo '```'
    echo "benchmarks/export.sh   # EXPORT_ROWS=$ROWS"
    cat "$COMMANDS_FILE"
    echo '```'
} >"$RESULTS_DIR/export.md"
log "wrote $RESULTS_DIR/export.md"
cat "$RESULTS_DIR/export.md"
