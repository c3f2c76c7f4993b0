"""Two Cellbase nodes consuming device telemetry from a real Mosquitto 2 through a shared
subscription (`--mqtt-upstream`), one of them killed with SIGKILL mid-stream and started again:
every reading a device published at QoS 1 is stored, once.

The nodes share a PostgreSQL control plane and shard, so they serve the same project. The test
starts its own broker and nodes; it needs `mosquitto`, CELLBASE_BIN and CELLBASE_TEST_POSTGRES_URL
(scripts/test provides all three) and fails without them.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from support import free_port

READINGS = 2000
WAIT = 60


def wait_until(condition, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def reachable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def environment():
    binary = os.environ.get("CELLBASE_BIN")
    postgres = os.environ.get("CELLBASE_TEST_POSTGRES_URL")
    mosquitto = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if not (binary and postgres and mosquitto):
        pytest.fail("CELLBASE_BIN, CELLBASE_TEST_POSTGRES_URL and mosquitto are needed: run scripts/test", pytrace=False)
    return binary, postgres, mosquitto


@pytest.fixture(scope="module")
def broker(environment):
    _, _, mosquitto = environment
    directory = Path(tempfile.mkdtemp(prefix="cellbase-upstream-"))
    port = free_port()
    (directory / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen([mosquitto, "-c", str(directory / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: reachable(port), "mosquitto")
    yield port, directory
    process.kill()
    process.wait()
    shutil.rmtree(directory, ignore_errors=True)


class Node:
    """One `cellbase serve` process with the upstream consumer, restartable on the same data directory."""

    def __init__(self, environment, broker_port, directory, name):
        binary, postgres, _ = environment
        self.data = directory / name
        self.port = free_port()
        self.command = [
            binary, "serve", "--data", str(self.data), "--port", str(self.port), "--no-mqtt",
            "--control", postgres, "--shard", f"pg={postgres}", "--default-shard", "pg",
            "--mqtt-upstream", f"mqtt://127.0.0.1:{broker_port}", "--mqtt-upstream-project", PROJECT_NAME,
        ]
        self.log = directory / f"{name}.log"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(self.command, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_until(self.ready, f"node {self.data.name}")

    def ready(self):
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def admin_token(self):
        return (self.data / "admin_token").read_text().strip()


# Unique per run, so a reused PostgreSQL never hands over an older run's project.
PROJECT_NAME = f"upstream_{uuid.uuid4().hex[:10]}"


def test_two_nodes_store_every_reading_once_when_one_is_killed_mid_stream(environment, broker):
    broker_port, directory = broker
    first, second = Node(environment, broker_port, directory, "node-a"), Node(environment, broker_port, directory, "node-b")
    try:
        first.start()
        created = httpx.post(f"{first.url}/admin/v1/projects", json={"name": PROJECT_NAME},
                             headers={"Authorization": f"Bearer {first.admin_token()}"}, timeout=30)
        assert created.status_code == 201, created.text
        project = created.json()
        service = {"apikey": project["service_role_key"], "Authorization": f"Bearer {project['service_role_key']}"}
        device = httpx.post(f"{first.url}/telemetry/v1/devices", json={"id": "pump-1"}, headers=service, timeout=30)
        assert device.status_code == 201, device.text
        second.start()
        # Both consumers are subscribed once each shows up on the broker; give them the chance.
        time.sleep(2)

        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pump-1", protocol=mqtt.MQTTv5)
        publisher.connect("127.0.0.1", broker_port)
        publisher.loop_start()
        start_ms = int(time.time() * 1000) - READINGS
        pending = []
        for index in range(READINGS):
            payload = json.dumps({"ts": start_ms + index, "temp": 20 + index % 7})
            pending.append(publisher.publish("devices/pump-1/telemetry", payload, qos=1))
            if index == READINGS // 2:
                first.kill()
            if index % 100 == 0:
                time.sleep(0.05)
        for info in pending:
            info.wait_for_publish(timeout=WAIT)
        publisher.disconnect()
        publisher.loop_stop()
        # The killed node comes back with the same client id: the broker hands its session's
        # unacknowledged readings to it again.
        first.start()

        query = {"device": "pump-1", "metric": "temp", "from": str(start_ms - 1), "to": str(start_ms + READINGS + 1),
                 "bucket": "1h", "agg": "count"}

        def stored():
            answer = httpx.get(f"{second.url}/telemetry/v1/series", params=query, headers=service, timeout=30)
            assert answer.status_code == 200, answer.text
            return sum(point["value"] for point in answer.json()["points"])

        wait_until(lambda: stored() >= READINGS, f"{READINGS} readings stored")
        assert stored() == READINGS
    finally:
        first.stop()
        second.stop()
