#!/usr/bin/env python3
"""The job queue's figures and their references, for benchmarks/jobs.sh (standard library only).
Each command prints one JSON object.

  jobs_bench.py throughput NAME N URL=TOKEN [URL=TOKEN ...]
      A project NAME created through the first node; N no-op jobs enqueued into its paused queue
      `bench`; the queue resumed through every node given (each resume wakes that node's worker);
      the time from the first resume until the nodes' /metrics count N completed attempts (and
      no other outcome), after which GET .../queues must show no job waiting or running.
  jobs_bench.py sqlite-reference PATH N
      The same claim-and-complete cycle, one job at a time, straight on a SQLite file (WAL,
      synchronous NORMAL, as Cellbase opens project files): the storage engine's own ceiling.
  jobs_bench.py pg-reference-setup N
      The SQL that creates the plain jobs table for pgbench, with N queued rows.
  jobs_bench.py latency NAME ROWS RATE URL=TOKEN
      Commit-to-webhook latency: a receiver on loopback, a webhook on table `events` pointing at
      it, ROWS single-row inserts through the Data API at RATE a second; latency is the
      delivery's arrival minus the arrival of the insert's answer. Then the loopback floor: the
      same driver POSTing the same bodies straight to the receiver (arrival minus sending).
"""

import http.client
import http.server
import json
import sqlite3
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

QUEUE = "bench"
ENQUEUE_CONNECTIONS = 8
TIMEOUT = 120
POLL_SECONDS = 0.05


class Client:
    """One keep-alive HTTP connection to a node."""

    def __init__(self, url, headers):
        parts = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
        self.headers = {"Content-Type": "application/json", **headers}

    def call(self, method, path, body=None, expect=(200,)):
        data = None if body is None else json.dumps(body, separators=(",", ":"))
        self.connection.request(method, path, body=data, headers=self.headers)
        response = self.connection.getresponse()
        payload = response.read()
        if response.status not in expect:
            raise SystemExit(f"{method} {path} -> {response.status}: {payload[:500]!r}")
        return json.loads(payload) if payload else None

    def close(self):
        self.connection.close()


def node_arguments(arguments):
    nodes = []
    for argument in arguments:
        url, token = argument.split("=", 1)
        nodes.append((url.rstrip("/"), token))
    return nodes


def admin(url, token):
    return Client(url, {"Authorization": f"Bearer {token}"})


def create_project(client, name, sql=None):
    project = client.call("POST", "/admin/v1/projects", {"name": name}, expect=(201,))
    if sql:
        client.call("POST", f"/admin/v1/projects/{project['ref']}/migrations", {"name": "001_schema", "sql": sql}, expect=(201,))
    return project


def completed_attempts(url, ref):
    """A node's `cellbase_jobs_attempts_total` for the project's no-op jobs, by outcome."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    outcomes = {}
    for line in text.splitlines():
        if not line.startswith("cellbase_jobs_attempts_total{"):
            continue
        labels = dict(part.split("=", 1) for part in line[line.index("{") + 1 : line.index("}")].split(","))
        labels = {key: value.strip('"') for key, value in labels.items()}
        if labels.get("project") == ref and labels.get("kind") == "noop":
            outcomes[labels["outcome"]] = int(float(line.rsplit(" ", 1)[1]))
    return outcomes


def throughput(name, total, nodes):
    first_url, first_token = nodes[0]
    setup = admin(first_url, first_token)
    ref = create_project(setup, name)["ref"]
    setup.call("PUT", f"/admin/v1/projects/{ref}/queues/{QUEUE}", {"paused": True})

    def enqueue(indices):
        client = admin(first_url, first_token)
        for i in indices:
            client.call("POST", f"/admin/v1/projects/{ref}/jobs", {"kind": "noop", "queue": QUEUE, "idempotency_key": f"bench-{i}"}, expect=(201,))
        client.close()

    began = time.perf_counter()
    with ThreadPoolExecutor(ENQUEUE_CONNECTIONS) as pool:
        list(pool.map(enqueue, [range(k, total, ENQUEUE_CONNECTIONS) for k in range(ENQUEUE_CONNECTIONS)]))
    enqueue_seconds = time.perf_counter() - began
    queued = setup.call("GET", f"/admin/v1/projects/{ref}/queues")
    assert [q["counts"]["queued"] for q in queued if q["name"] == QUEUE] == [total], queued

    resumers = [admin(url, token) for url, token in nodes]
    started = time.perf_counter()
    for client in resumers:
        client.call("PUT", f"/admin/v1/projects/{ref}/queues/{QUEUE}", {"paused": False})
    resumed_seconds = time.perf_counter() - started
    # Done is read from the nodes' own counters, which cost no query: looking at the queue's
    # depth instead would scan its table every time and slow the workers it is timing.
    deadline = started + max(600, total / 20)
    while True:
        by_node = [completed_attempts(url, ref) for url, _ in nodes]
        completed = sum(outcomes.get("completed", 0) for outcomes in by_node)
        others = {key: value for outcomes in by_node for key, value in outcomes.items() if key != "completed"}
        if completed >= total or others:
            seconds = time.perf_counter() - started
            break
        if time.perf_counter() > deadline:
            raise SystemExit(f"{completed} of {total} jobs completed after {deadline - started:.0f} s")
        time.sleep(POLL_SECONDS)
    if completed != total or others:
        raise SystemExit(f"{total} jobs enqueued, {completed} attempts completed, other outcomes {others}")
    queue = next(q for q in setup.call("GET", f"/admin/v1/projects/{ref}/queues") if q["name"] == QUEUE)
    if sum(queue["counts"].values()) != 0:
        raise SystemExit(f"every attempt completed, yet the queue still holds jobs: {queue}")
    for client in [setup, *resumers]:
        client.close()
    return {
        "ref": ref, "jobs": total, "seconds": round(seconds, 3), "per_second": round(total / seconds, 1),
        "enqueue_seconds": round(enqueue_seconds, 3), "resume_seconds": round(resumed_seconds, 3),
        "completed_by_node": [outcomes.get("completed", 0) for outcomes in by_node],
    }


REFERENCE_TABLE = """
create table jobs (
    id text primary key, state text not null, attempts bigint not null, run_at bigint not null,
    lease_owner text, lease_expires_at bigint, finished_at bigint
)"""
REFERENCE_INDEX = "create index jobs_ready on jobs (run_at) where state = 'queued'"


def sqlite_reference(path, total):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(REFERENCE_TABLE)
    db.execute(REFERENCE_INDEX)
    db.execute("BEGIN")
    db.executemany("insert into jobs (id, state, attempts, run_at) values (?, 'queued', 0, ?)", ((str(uuid.uuid4()), i) for i in range(total)))
    db.execute("COMMIT")
    now = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    claim = f"""
        update jobs set state = 'running', attempts = attempts + 1, lease_owner = 'reference', lease_expires_at = {now} + 30000
        where id = (select id from jobs where state = 'queued' and run_at <= {now} order by run_at limit 1) returning id"""
    complete = f"update jobs set state = 'completed', finished_at = {now}, lease_owner = null, lease_expires_at = null where id = ? and state = 'running'"
    done = 0
    started = time.perf_counter()
    while True:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute(claim).fetchone()
        db.execute("COMMIT")
        if row is None:
            break
        db.execute("BEGIN IMMEDIATE")
        db.execute(complete, row)
        db.execute("COMMIT")
        done += 1
    seconds = time.perf_counter() - started
    completed = db.execute("select count(*) from jobs where state = 'completed' and attempts = 1").fetchone()[0]
    if done != total or completed != total:
        raise SystemExit(f"the reference completed {done} (table: {completed}) of {total}")
    return {"jobs": total, "seconds": round(seconds, 3), "per_second": round(total / seconds, 1)}


def pg_reference_setup(total):
    return "\n".join([
        "drop table if exists jobs;",
        REFERENCE_TABLE.strip() + ";",
        REFERENCE_INDEX + ";",
        f"insert into jobs (id, state, attempts, run_at) select gen_random_uuid()::text, 'queued', 0, i from generate_series(1, {total}) i;",
        "vacuum analyze jobs;",
    ])


class Receiver(http.server.ThreadingHTTPServer):
    """Notes when each body arrived, by the id its sender put in it."""

    daemon_threads = True

    def __init__(self, find_id):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.find_id = find_id
        self.arrivals = {}
        self.repeats = 0
        self.lock = threading.Lock()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        arrived = time.perf_counter()
        key = self.server.find_id(json.loads(body))
        with self.server.lock:
            if key in self.server.arrivals:
                self.server.repeats += 1
            else:
                self.server.arrivals[key] = arrived
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *arguments):
        pass


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def summary(sent, receiver, wait_seconds=30):
    deadline = time.perf_counter() + wait_seconds
    while len(receiver.arrivals) < len(sent) and time.perf_counter() < deadline:
        time.sleep(0.05)
    latencies = [(receiver.arrivals[key] - at) * 1000 for key, at in sent.items() if key in receiver.arrivals]
    result = {"sent": len(sent), "delivered": len(latencies), "repeats": receiver.repeats}
    if latencies:
        result.update({
            "p50_ms": round(percentile(latencies, 0.50), 2), "p99_ms": round(percentile(latencies, 0.99), 2),
            "min_ms": round(min(latencies), 2), "max_ms": round(max(latencies), 2),
        })
    return result


def paced(rows, rate):
    """Yields 1..rows, each at its due time (open loop at `rate` a second)."""
    start = time.perf_counter()
    for i in range(1, rows + 1):
        due = start + (i - 1) / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        yield i


def latency(name, rows, rate, nodes):
    (url, token), = nodes
    setup = admin(url, token)
    project = create_project(setup, name, "create table events (id bigint primary key, note text not null);")
    ref = project["ref"]

    webhook_receiver = Receiver(lambda body: body["record"]["id"])
    threading.Thread(target=webhook_receiver.serve_forever, daemon=True).start()
    setup.call("POST", f"/admin/v1/projects/{ref}/webhooks", {
        "name": "bench", "table": "events", "events": ["INSERT"], "url": webhook_receiver.url,
    }, expect=(201,))
    service = project["service_role_key"]
    data = Client(url, {"apikey": service, "Authorization": f"Bearer {service}", "Prefer": "return=minimal"})
    committed = {}
    for i in paced(rows, rate):
        data.call("POST", "/rest/v1/events", {"id": i, "note": f"event {i}"}, expect=(201,))
        committed[i] = time.perf_counter()
    cellbase = summary(committed, webhook_receiver)
    webhook_receiver.shutdown()

    floor_receiver = Receiver(lambda body: body["record"]["id"])
    threading.Thread(target=floor_receiver.serve_forever, daemon=True).start()
    direct = Client(floor_receiver.url, {})
    sent = {}
    for i in paced(rows, rate):
        body = {"type": "INSERT", "table": "events", "schema": "public", "record": {"id": i, "note": f"event {i}"}, "old_record": None}
        sent[i] = time.perf_counter()
        direct.call("POST", "/hook", body, expect=(204,))
    loopback = summary(sent, floor_receiver)
    floor_receiver.shutdown()
    for client in (setup, data, direct):
        client.close()
    return {"ref": ref, "rows": rows, "rate": rate, "cellbase": cellbase, "loopback": loopback}


def main(arguments):
    command = arguments[0] if arguments else ""
    if command == "throughput" and len(arguments) >= 4:
        result = throughput(arguments[1], int(arguments[2]), node_arguments(arguments[3:]))
    elif command == "sqlite-reference" and len(arguments) == 3:
        result = sqlite_reference(arguments[1], int(arguments[2]))
    elif command == "pg-reference-setup" and len(arguments) == 2:
        print(pg_reference_setup(int(arguments[1])))
        return
    elif command == "latency" and len(arguments) == 5:
        result = latency(arguments[1], int(arguments[2]), float(arguments[3]), node_arguments(arguments[4:]))
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
