#!/usr/bin/env bash
# The job queue against its references, measured in one run on this machine:
#   no-op jobs completed per second on SQLite, one node   vs  the same claim-and-complete cycle
#                                                              straight on a SQLite file (Python loop)
#   the same on a PostgreSQL shard worked by two nodes     vs  pgbench running that cycle with
#                                                              FOR UPDATE SKIP LOCKED, as many clients
#                                                              as the two nodes' workers
#   commit-to-webhook latency, p50 / p99                   vs  the same driver POSTing straight to
#                                                              the same loopback receiver
# Writes benchmarks/results/jobs.md. Everything runs on loopback, every wait is bounded, and every
# process started here is stopped on exit. Uses $CELLBASE_BIN when set, else builds release.
# Sizes: JOBS_BENCH_N jobs (20,000), JOBS_CONCURRENCY per node (16), JOBS_LATENCY_ROWS inserts
# (500) at JOBS_LATENCY_RATE a second (20).
set -euo pipefail
source "$(dirname "$0")/../scripts/services.sh"
source "$CELLBASE_ROOT/benchmarks/lib.sh"
trap stop_services EXIT

N=${JOBS_BENCH_N:-20000}
CONCURRENCY=${JOBS_CONCURRENCY:-16}
LATENCY_ROWS=${JOBS_LATENCY_ROWS:-500}
LATENCY_RATE=${JOBS_LATENCY_RATE:-20}
CLIENTS=$((2 * CONCURRENCY))
PER_CLIENT=$(((N + CLIENTS - 1) / CLIENTS))
PG_JOBS=$((PER_CLIENT * CLIENTS))

bench() { python3 "$BENCH_DIR/jobs_bench.py" "$@"; }
# field FILE KEY...: a value of the JSON object in FILE, by its path of keys.
field() { python3 -c 'import json, sys; v = json.load(open(sys.argv[1])); [v := v[k] for k in sys.argv[2:]]; print(v)' "$@"; }
record() { echo "$*" >>"$COMMANDS_FILE"; }

apt_install curl ca-certificates postgresql postgresql-contrib
mkdir -p "$RAW_DIR"
: >"$COMMANDS_FILE"
machine_line >"$MACHINE_FILE"
if [ -z "${CELLBASE_BIN:-}" ]; then build_release; fi
log "cellbase: $CELLBASE_BIN"
start_postgres
PSQL=("$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U cellbase -v ON_ERROR_STOP=1 -q)
WORKER=(--jobs-concurrency "$CONCURRENCY")

# (a) and (c): one node on SQLite.
start_cellbase SQLITE "$CELLBASE_TMP/data-sqlite" "${WORKER[@]}" --webhook-allow-private
record "cellbase serve --data DATA_SQLITE --port PORT --mqtt-port PORT ${WORKER[*]} --webhook-allow-private"
log "SQLite: $N no-op jobs"
bench throughput jobs_sqlite "$N" "$CELLBASE_URL_SQLITE=$(admin_token "$CELLBASE_TMP/data-sqlite")" >"$RAW_DIR/jobs-sqlite.json"
record "jobs_bench.py throughput jobs_sqlite $N URL=ADMIN_TOKEN   # enqueue into paused queue 'bench', resume, poll /metrics every 50 ms"
log "SQLite reference: $N claims and completions on a plain table"
bench sqlite-reference "$CELLBASE_TMP/reference.db" "$N" >"$RAW_DIR/jobs-sqlite-reference.json"
record "jobs_bench.py sqlite-reference TMP/reference.db $N"
log "webhook latency: $LATENCY_ROWS inserts at $LATENCY_RATE/s"
bench latency jobs_latency "$LATENCY_ROWS" "$LATENCY_RATE" "$CELLBASE_URL_SQLITE=$(admin_token "$CELLBASE_TMP/data-sqlite")" >"$RAW_DIR/jobs-latency.json"
record "jobs_bench.py latency jobs_latency $LATENCY_ROWS $LATENCY_RATE URL=ADMIN_TOKEN   # webhook on events (INSERT) to a loopback receiver, then the same POSTs straight to it"

# (b): two nodes sharing a PostgreSQL control plane and shard. Both resume the queue, because a
# resume wakes only the worker of the node that received it; a node not told would find the work
# only in its 30 s sweep for projects other nodes gave work to.
CONTROL_URL=$(create_postgres_database jobs_control)
SHARD=(--control "$CONTROL_URL" --shard "pg=$CELLBASE_TEST_POSTGRES_URL" --default-shard pg "${WORKER[@]}")
start_cellbase PG1 "$CELLBASE_TMP/data-pg1" "${SHARD[@]}"
start_cellbase PG2 "$CELLBASE_TMP/data-pg2" "${SHARD[@]}"
record "cellbase serve --data DATA_PG1 --port PORT --mqtt-port PORT --control postgres://…/jobs_control --shard pg=postgres://…/cellbase --default-shard pg ${WORKER[*]}"
record "cellbase serve --data DATA_PG2 --port PORT --mqtt-port PORT --control postgres://…/jobs_control --shard pg=postgres://…/cellbase --default-shard pg ${WORKER[*]}"
log "PostgreSQL, two nodes: $N no-op jobs"
bench throughput jobs_postgres "$N" "$CELLBASE_URL_PG1=$(admin_token "$CELLBASE_TMP/data-pg1")" "$CELLBASE_URL_PG2=$(admin_token "$CELLBASE_TMP/data-pg2")" >"$RAW_DIR/jobs-postgres.json"
record "jobs_bench.py throughput jobs_postgres $N URL1=ADMIN_TOKEN1 URL2=ADMIN_TOKEN2   # enqueued through node 1, resumed through both"

log "pgbench reference: $PG_JOBS claims and completions, $CLIENTS clients"
REFERENCE_URL=$(create_postgres_database jobs_reference)
bench pg-reference-setup "$PG_JOBS" >"$CELLBASE_TMP/reference.sql"
"${PSQL[@]}" -d jobs_reference -f "$CELLBASE_TMP/reference.sql"
cat >"$CELLBASE_TMP/claim.sql" <<'SQL'
update jobs set state = 'running', attempts = attempts + 1, lease_owner = 'reference', lease_expires_at = floor(extract(epoch from clock_timestamp()) * 1000)::bigint + 30000 where id = (select id from jobs where state = 'queued' and run_at <= floor(extract(epoch from clock_timestamp()) * 1000)::bigint order by run_at limit 1 for update skip locked) returning id \gset
update jobs set state = 'completed', finished_at = floor(extract(epoch from clock_timestamp()) * 1000)::bigint, lease_owner = null, lease_expires_at = null where id = :id and state = 'running';
SQL
"$(pg_bin)/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U cellbase -n -M prepared -f "$CELLBASE_TMP/claim.sql" \
    -c "$CLIENTS" -j 2 -t "$PER_CLIENT" jobs_reference >"$RAW_DIR/jobs-pgbench.txt" 2>&1 || { cat "$RAW_DIR/jobs-pgbench.txt" >&2; exit 1; }
record "pgbench -n -M prepared -f claim.sql -c $CLIENTS -j 2 -t $PER_CLIENT jobs_reference   # $PG_JOBS queued rows"
COMPLETED=$("${PSQL[@]}" -d jobs_reference -At -c "select count(*) from jobs where state = 'completed' and attempts = 1")
[ "$COMPLETED" = "$PG_JOBS" ] || { echo "pgbench completed $COMPLETED of $PG_JOBS jobs" >&2; exit 1; }
PGBENCH_TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$RAW_DIR/jobs-pgbench.txt")

SQLITE_RATE=$(field "$RAW_DIR/jobs-sqlite.json" per_second)
SQLITE_REFERENCE=$(field "$RAW_DIR/jobs-sqlite-reference.json" per_second)
PG_RATE=$(field "$RAW_DIR/jobs-postgres.json" per_second)
BY_NODE=$(field "$RAW_DIR/jobs-postgres.json" completed_by_node)
lat() { field "$RAW_DIR/jobs-latency.json" "$@"; }
{
    echo "# Jobs: throughput and webhook latency"
    echo
    echo "Measured by \`benchmarks/jobs.sh\` in one run: $(cat "$MACHINE_FILE")."
    echo "Binary: \`${CELLBASE_BIN/#$CELLBASE_ROOT\//}\`. Everything on loopback; the drivers share the cores with the nodes and PostgreSQL."
    echo
    echo "| measurement | Cellbase | reference | ratio |"
    echo "|---|---|---|---|"
    echo "| no-op jobs completed/s, SQLite, one node ($CONCURRENCY workers), $(fmt "$N") jobs | $(fmt "$SQLITE_RATE") ($(field "$RAW_DIR/jobs-sqlite.json" seconds) s) | Python loop claiming and completing one row at a time on a SQLite file (WAL, synchronous NORMAL): $(fmt "$SQLITE_REFERENCE") ($(field "$RAW_DIR/jobs-sqlite-reference.json" seconds) s) | $(ratio "$SQLITE_RATE" "$SQLITE_REFERENCE") |"
    echo "| no-op jobs completed/s, PostgreSQL shard, two nodes ($CONCURRENCY workers each), $(fmt "$N") jobs | $(fmt "$PG_RATE") ($(field "$RAW_DIR/jobs-postgres.json" seconds) s; completed by node: $BY_NODE) | pgbench, $CLIENTS clients, claim with \`FOR UPDATE SKIP LOCKED\` then complete, $(fmt "$PG_JOBS") jobs: $(fmt "$PGBENCH_TPS") | $(ratio "$PG_RATE" "$PGBENCH_TPS") |"
    echo "| commit to webhook delivery, p50 / p99 ($LATENCY_ROWS inserts at $LATENCY_RATE/s, SQLite) | $(lat cellbase p50_ms) / $(lat cellbase p99_ms) ms ($(lat cellbase delivered) of $(lat cellbase sent) delivered, $(lat cellbase repeats) repeats, max $(lat cellbase max_ms) ms) | the same driver POSTing straight to the receiver: $(lat loopback p50_ms) / $(lat loopback p99_ms) ms | $(ratio "$(lat cellbase p50_ms)" "$(lat loopback p50_ms)") / $(ratio "$(lat cellbase p99_ms)" "$(lat loopback p99_ms)") |"
    echo
    echo "- Throughput: the jobs are enqueued through the admin API into a paused queue (not timed), the"
    echo "  queue is resumed, and the time runs from the resume until the nodes' \`cellbase_jobs_attempts_total\`"
    echo "  (read from \`/metrics\` every 50 ms, which queries no database) counts $(fmt "$N") completed attempts."
    echo "  Any other outcome, a job left in \`GET …/queues\` afterwards, or pgbench's table holding other than"
    echo "  $(fmt "$PG_JOBS") completed rows fails the script."
    echo "- Two nodes: the jobs are enqueued through the first; the queue is resumed through both, since a"
    echo "  resume wakes only the receiving node's worker and another node would otherwise find the work"
    echo "  only in its sweep every 30 s."
    echo "- Latency: each insert is \`POST /rest/v1/events\` (service key, \`Prefer: return=minimal\`), one at a"
    echo "  time on a schedule; its commit time is when its answer arrived, its delivery time when the"
    echo "  receiver (Python \`http.server\`, same process and clock) read the webhook's body. The floor"
    echo "  times the same body from sending to the receiver reading it."
    echo
    echo "## Commands"
    echo
    echo '```'
    echo "benchmarks/jobs.sh   # JOBS_BENCH_N=$N JOBS_CONCURRENCY=$CONCURRENCY JOBS_LATENCY_ROWS=$LATENCY_ROWS JOBS_LATENCY_RATE=$LATENCY_RATE"
    cat "$COMMANDS_FILE"
    echo "# claim.sql:"
    cat "$CELLBASE_TMP/claim.sql"
    echo '```'
} >"$RESULTS_DIR/jobs.md"
log "wrote $RESULTS_DIR/jobs.md"
cat "$RESULTS_DIR/jobs.md"
