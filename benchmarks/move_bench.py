"""Online project moves under a writer, for benchmarks/move.sh.

    move_bench.py URL ADMIN_TOKEN ROWS OUT.json

Creates a project on the node's SQLite shard with one table of ROWS rows, then moves it
local -> pg -> pg2 -> local while one writer inserts rows one at a time (retrying an insert the
node answers 503 while the project switches). For each move: its duration (from the move's own
start and end stamps and from the client's clock), the write pause the node measured, and on
the writer's side the longest gap between two acknowledged inserts during the move and the
p50 / p99 / max insert latency before the moves and during each move. Afterwards every
acknowledged insert must be in the table exactly once, and the row count must match.
"""
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request


def call(method, url, headers, body=None, timeout=600):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def must(expected, answer, what):
    status, body, _ = answer
    if status != expected:
        raise SystemExit(f"{what}: HTTP {status}: {body[:500]!r}")
    return json.loads(body) if body else None


class Writer(threading.Thread):
    def __init__(self, url, key, first):
        super().__init__(daemon=True)
        self.url, self.first = url, first
        self.headers = {"apikey": key, "Authorization": f"Bearer {key}", "Content-Type": "application/json", "Prefer": "return=minimal"}
        self.acked = []      # (id, time acknowledged, latency of the successful attempt)
        self.failures = []
        self.stop = threading.Event()

    def run(self):
        next_id = self.first
        while not self.stop.is_set():
            started = time.monotonic()
            status, body, _ = call("POST", f"{self.url}/rest/v1/items", self.headers, {"id": next_id, "body": "during"}, timeout=30)
            now = time.monotonic()
            if status == 201:
                self.acked.append((next_id, now, now - started))
                next_id += 1
            elif status == 503:
                time.sleep(0.005)
            else:
                self.failures.append(f"{status}: {body[:200]!r}")
                next_id += 1


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    url, admin, rows, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    admin_headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    project = must(201, call("POST", f"{url}/admin/v1/projects", admin_headers, {"name": f"move{rows}", "shard": "local"}), "create project")
    ref, service = project["ref"], project["service_role_key"]
    sql = "create table items (id bigint primary key, body text not null, n integer, at timestamptz not null default now());"
    must(201, call("POST", f"{url}/admin/v1/projects/{ref}/migrations", admin_headers, {"name": "0001.sql", "sql": sql}), "migration")
    headers = {"apikey": service, "Authorization": f"Bearer {service}", "Content-Type": "application/json", "Prefer": "return=minimal"}
    batch = 5000
    for start in range(1, rows + 1, batch):
        items = [{"id": i, "body": f"row {i}", "n": i % 1000} for i in range(start, min(start + batch, rows + 1))]
        must(201, call("POST", f"{url}/rest/v1/items", headers, items), "seed")

    # The writer's latency before any move.
    writer = Writer(url, service, 10_000_000)
    writer.start()
    time.sleep(3)
    baseline = [latency for _, _, latency in writer.acked]
    moves = []
    for target in ["pg", "pg2", "local"]:
        mark = len(writer.acked)
        began = time.monotonic()
        must(202, call("POST", f"{url}/admin/v1/projects/{ref}/move", admin_headers, {"to": target}), f"move to {target}")
        while True:
            status = must(200, call("GET", f"{url}/admin/v1/projects/{ref}/move", admin_headers), "move status")
            if status["state"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.05)
        ended = time.monotonic()
        if status["state"] != "done":
            raise SystemExit(f"move to {target}: {status}")
        during = writer.acked[mark:]
        stamps = [began] + [at for _, at, _ in during] + [ended]
        moves.append({
            "from": status["from"], "to": target, "seconds": round(ended - began, 3),
            "rows_copied": status["rows_copied"], "changes_applied": status["changes_applied"],
            "write_pause_ms": status["write_pause_ms"],
            "longest_gap_ms": round(max(b - a for a, b in zip(stamps, stamps[1:])) * 1000, 1),
            "writes_during": len(during),
            "latency_ms": {k: round(v * 1000, 2) for k, v in (("p50", percentile([l for *_, l in during], 50)), ("p99", percentile([l for *_, l in during], 99)), ("max", max([l for *_, l in during], default=0)))},
        })
        time.sleep(1)
    writer.stop.set()
    writer.join()
    if writer.failures:
        raise SystemExit(f"the writer failed: {writer.failures[:5]}")
    acked = [i for i, _, _ in writer.acked]
    present = []
    while True:  # a page of 1,000 rows, the most an answer carries
        status, body, _ = call("GET", f"{url}/rest/v1/items?select=id&id=gte.10000000&order=id&limit=1000&offset={len(present)}", headers)
        page = [row["id"] for row in json.loads(body)]
        present += page
        if len(page) < 1000:
            break
    if present != acked:
        raise SystemExit(f"acknowledged writes missing or duplicated: {len(acked)} acknowledged, {len(present)} present")
    status, _, answer_headers = call("GET", f"{url}/rest/v1/items?select=id", {**headers, "Prefer": "count=exact", "Range": "0-0"})
    total = int(answer_headers["Content-Range"].split("/")[1])
    if total != rows + len(acked):
        raise SystemExit(f"row count {total}, expected {rows + len(acked)}")
    result = {
        "rows": rows, "moves": moves, "acknowledged_writes": len(acked), "rows_after": total,
        "baseline_latency_ms": {"p50": round(percentile(baseline, 50) * 1000, 2), "p99": round(percentile(baseline, 99) * 1000, 2)},
    }
    json.dump(result, open(out, "w"), indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
