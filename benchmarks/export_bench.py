"""Drives benchmarks/export.sh: a table of N rows exported as CSV through `POST /jobs/v1/exports`,
with the node's memory sampled while it runs, against a plain Python loop writing the same CSV
from the same SQLite file.

    export_bench.py export URL=ADMIN_TOKEN NODE_PID DATA_DIR ROWS   prints a JSON result
"""

import csv
import json
import os
import resource
import subprocess
import sys
import time
import urllib.parse

from jobs_bench import Client, admin, create_project

SCHEMA = "create table items (id bigint primary key, name text not null, price numeric(10,2), note text);"
BATCH = 5000
POLL_SECONDS = 0.05

REFERENCE = r"""
import csv, sqlite3, sys
database, output = sys.argv[1], sys.argv[2]
connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
with open(output, "w", newline="", encoding="utf-8") as file:
    writer = csv.writer(file, lineterminator="\r\n")
    writer.writerow(["id", "name", "price", "note"])
    for row in connection.execute("select id, name, price, note from items order by id"):
        writer.writerow(["" if value is None else value for value in row])
"""


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for process {pid}")


def seed(data, rows):
    for start in range(1, rows + 1, BATCH):
        batch = [
            {"id": i, "name": f"item {i}, \"quoted\"" if i % 100 == 0 else f"item {i}", "price": f"{i % 1000}.{i % 100:02d}",
             "note": None if i % 3 == 0 else f"note {i}"}
            for i in range(start, min(start + BATCH, rows + 1))
        ]
        data.call("POST", "/rest/v1/items", batch, expect=(201,))


def export(node, pid, data_dir, rows):
    url, token = node
    setup = admin(url, token)
    project = create_project(setup, "export_bench", SCHEMA)
    key = project["service_role_key"]
    data = Client(url, {"apikey": key, "Authorization": f"Bearer {key}", "Prefer": "return=minimal"})
    seeded_at = time.monotonic()
    seed(data, rows)
    seed_seconds = time.monotonic() - seeded_at
    data.call("POST", "/storage/v1/bucket", {"id": "exports", "name": "exports"})

    time.sleep(1)
    baseline = rss_kib(pid)
    started = time.monotonic()
    job = data.call("POST", "/jobs/v1/exports", {"table": "items", "bucket": "exports", "path": "items.csv"}, expect=(202,))
    peak = baseline
    while True:
        peak = max(peak, rss_kib(pid))
        state = data.call("GET", f"/jobs/v1/exports/{job['id']}")
        if state["state"] in ("completed", "dead"):
            break
        if time.monotonic() - started > 1800:
            raise SystemExit("the export did not finish within 30 minutes")
        time.sleep(POLL_SECONDS)
    seconds = time.monotonic() - started
    if state["state"] != "completed" or int(state["result"]["rows"]) != rows:
        raise SystemExit(f"the export ended {state['state']}: {json.dumps(state)[:500]}")

    signed = urllib.parse.urlsplit(state["result"]["signed_url"])
    download = Client(url, {})
    download.connection.request("GET", signed.path + "?" + signed.query)
    response = download.connection.getresponse()
    # No field of this table holds a line break, so every LF ends a record (CRLF may straddle two reads).
    lines = 0
    size = 0
    while chunk := response.read(1 << 20):
        lines += chunk.count(b"\n")
        size += len(chunk)
    if response.status != 200 or lines != rows + 1 or size != int(state["result"]["bytes"]):
        raise SystemExit(f"the exported file is not the table: status {response.status}, {lines} lines, {size} bytes")

    output = os.path.join(data_dir, "reference.csv")
    reference_started = time.monotonic()
    subprocess.run([sys.executable, "-c", REFERENCE, os.path.join(data_dir, "projects", project["ref"] + ".db"), output], check=True)
    reference_seconds = time.monotonic() - reference_started
    reference_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    reference_size = os.path.getsize(output)
    os.remove(output)
    for client in (setup, data, download):
        client.close()
    return {
        "rows": rows, "seed_seconds": seed_seconds,
        "cellbase": {"seconds": seconds, "bytes": size, "rss_baseline_kib": baseline, "rss_peak_kib": peak},
        "reference": {"seconds": reference_seconds, "bytes": reference_size, "max_rss_kib": reference_peak},
    }


def main(arguments):
    if len(arguments) == 5 and arguments[0] == "export":
        url, token = arguments[1].split("=", 1)
        print(json.dumps(export((url.rstrip("/"), token), int(arguments[2]), arguments[3], int(arguments[4]))))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
