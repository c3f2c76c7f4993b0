"""Telemetry through real MQTT clients: paho-mqtt speaking 3.1.1 and 5.0, and Mosquitto's own
mosquitto_pub and mosquitto_sub, against the node's MQTT listener on each backend. What a device
publishes is read back through the HTTP API; commands posted over HTTP reach the device."""

import json
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

WAIT = 10


def mqtt_port(node):
    name = f"CELLBASE_MQTT_PORT_{node.backend.upper()}"
    port = os.environ.get(name)
    if not port:
        pytest.fail(f"{name} is not set: start the nodes with scripts/test", pytrace=False)
    return int(port)


@pytest.fixture(scope="module")
def service_http(project, http):
    http.headers.update({"apikey": project.service_role_key, "Authorization": f"Bearer {project.service_role_key}"})
    return http


def new_device(service_http, prefix="dev"):
    device = f"{prefix}-{uuid.uuid4().hex[:10]}"
    created = service_http.post("/telemetry/v1/devices", json={"id": device, "name": f"compat {device}"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == device and len(body["token"]) >= 32
    return device, body["token"]


class Device:
    """A paho client that records what it hears, connected with the device's credentials."""

    def __init__(self, node, project, device, token, protocol, client_id=None):
        self.device = device
        self.protocol = protocol
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or device, protocol=protocol)
        self.client.username_pw_set(f"{project.ref}:{device}", token)
        self.connack = queue.Queue()
        self.messages = queue.Queue()
        self.acks = queue.Queue()
        self.subacks = queue.Queue()
        self.client.on_connect = lambda c, u, flags, reason, props: self.connack.put(reason)
        self.client.on_message = lambda c, u, message: self.messages.put(message)
        self.client.on_publish = lambda c, u, mid, reason, props: self.acks.put((mid, reason))
        self.client.on_subscribe = lambda c, u, mid, reasons, props: self.subacks.put(reasons)
        self.port = mqtt_port(node)

    def connect(self):
        if self.protocol == mqtt.MQTTv5:
            self.client.connect("127.0.0.1", self.port, keepalive=30, clean_start=True)
        else:
            self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        return self.connack.get(timeout=WAIT)

    def publish(self, topic, payload, qos=1):
        info = self.client.publish(topic, json.dumps(payload) if not isinstance(payload, (bytes, str)) else payload, qos=qos)
        mid, reason = self.acks.get(timeout=WAIT)
        assert mid == info.mid
        return reason

    def subscribe(self, topic, qos=1):
        self.client.subscribe(topic, qos=qos)
        return self.subacks.get(timeout=WAIT)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def latest(service_http, device):
    answer = service_http.get("/telemetry/v1/latest", params={"device": device})
    assert answer.status_code == 200, answer.text
    return answer.json()


def metric_values(latest_body):
    """{metric: value} from a /latest answer."""
    return {metric: entry["value"] for metric, entry in latest_body["metrics"].items()}


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["3.1.1", "5.0"])
def test_a_qos1_publish_is_stored_when_it_is_acknowledged(node, project, service_http, protocol):
    device, token = new_device(service_http)
    client = Device(node, project, device, token, protocol)
    try:
        assert client.connect() == 0
        now_ms = int(time.time() * 1000)
        reason = client.publish(f"devices/{device}/telemetry", {"ts": now_ms, "temp": 21.5, "rpm": 1200, "on": True, "mode": "eco"})
        assert not reason.is_failure
        # Acknowledged means stored: the read needs no waiting.
        body = latest(service_http, device)
        assert metric_values(body) == {"temp": 21.5, "rpm": 1200, "on": 1}
        assert body["state"]["mode"] == "eco"
        series = service_http.get("/telemetry/v1/series", params={"device": device, "metric": "temp", "from": str(now_ms - 1000), "to": str(now_ms + 1000)})
        assert series.status_code == 200, series.text
        assert [point["value"] for point in series.json()["points"]] == [21.5]
    finally:
        client.close()


def test_wrong_credentials_are_refused_per_protocol_version(node, project, service_http):
    device, token = new_device(service_http)
    old = Device(node, project, device, token + "x", mqtt.MQTTv311)
    refused = old.connect()  # 3.1.1 return code 4, which paho reports by its 5.0 name
    assert refused.is_failure and refused.getName() == "Bad user name or password"
    old.close()
    new = Device(node, project, device, "wrong", mqtt.MQTTv5)
    refused = new.connect()
    assert refused.is_failure and refused.value == 0x86
    new.close()
    # Another project's device name with this project's token is no better.
    foreign = Device(node, project, device, token, mqtt.MQTTv5)
    foreign.client.username_pw_set(f"{'x' * 20}:{device}", token)
    refused = foreign.connect()
    assert refused.is_failure and refused.value == 0x86
    foreign.close()


def test_a_device_cannot_publish_or_subscribe_outside_its_topics(node, project, service_http):
    device, token = new_device(service_http)
    other, _ = new_device(service_http)
    client = Device(node, project, device, token, mqtt.MQTTv5)
    try:
        assert client.connect() == 0
        refused = client.publish(f"devices/{other}/telemetry", {"temp": 1})
        assert refused.is_failure and refused.value == 0x87
        granted, denied = client.subscribe(f"devices/{device}/commands/#"), client.subscribe(f"devices/{other}/commands/#")
        assert not granted[0].is_failure
        assert denied[0].is_failure and denied[0].value == 0x87
        assert metric_values(latest(service_http, other)) == {}
    finally:
        client.close()


def test_a_311_device_publishing_to_another_devices_topic_is_disconnected(node, project, service_http):
    device, token = new_device(service_http)
    other, _ = new_device(service_http)
    client = Device(node, project, device, token, mqtt.MQTTv311)
    disconnected = threading.Event()
    client.client.on_disconnect = lambda c, u, flags, reason, props: disconnected.set()
    try:
        assert client.connect() == 0
        client.client.publish(f"devices/{other}/telemetry", json.dumps({"temp": 1}), qos=1)
        assert disconnected.wait(WAIT)
        assert metric_values(latest(service_http, other)) == {}
    finally:
        client.client.loop_stop()


def test_commands_reach_a_subscribed_device_and_are_marked_delivered(node, project, service_http):
    device, token = new_device(service_http)
    client = Device(node, project, device, token, mqtt.MQTTv311)
    try:
        assert client.connect() == 0
        assert client.subscribe(f"devices/{device}/commands/#")[0].value == 1
        posted = service_http.post(f"/telemetry/v1/devices/{device}/commands", json={"payload": {"reboot": True}, "ttl": 60, "topic": "system"})
        assert posted.status_code == 201, posted.text
        command = posted.json()
        message = client.messages.get(timeout=WAIT)
        assert message.topic == f"devices/{device}/commands/system"
        assert json.loads(message.payload) == {"reboot": True}
        assert message.qos == 1
        deadline = time.monotonic() + WAIT
        while True:
            status = service_http.get(f"/telemetry/v1/devices/{device}/commands/{command['id']}").json()["status"]
            if status == "delivered" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == "delivered"
    finally:
        client.close()


def test_a_command_posted_while_the_device_is_offline_waits_for_it(node, project, service_http):
    device, token = new_device(service_http)
    posted = service_http.post(f"/telemetry/v1/devices/{device}/commands", json={"payload": {"setpoint": 19}, "ttl": 300})
    assert posted.status_code == 201, posted.text
    assert posted.json()["status"] == "queued"
    client = Device(node, project, device, token, mqtt.MQTTv5)
    try:
        assert client.connect() == 0
        client.subscribe(f"devices/{device}/commands/#")
        message = client.messages.get(timeout=WAIT)
        assert message.topic == f"devices/{device}/commands"
        assert json.loads(message.payload) == {"setpoint": 19}
    finally:
        client.close()


def test_mosquitto_pub_and_sub_work_unchanged(node, project, service_http):
    for tool in ("mosquitto_pub", "mosquitto_sub"):
        assert shutil.which(tool), f"{tool} is not installed: scripts/test installs mosquitto-clients"
    device, token = new_device(service_http)
    credentials = ["-h", "127.0.0.1", "-p", str(mqtt_port(node)), "-u", f"{project.ref}:{device}", "-P", token]
    published = subprocess.run(
        ["mosquitto_pub", *credentials, "-i", f"{device}-pub", "-q", "1", "-t", f"devices/{device}/telemetry", "-m", '{"humidity": 40.25}'],
        capture_output=True, text=True, timeout=WAIT,
    )
    assert published.returncode == 0, published.stderr
    assert metric_values(latest(service_http, device)) == {"humidity": 40.25}

    subscriber = subprocess.Popen(
        ["mosquitto_sub", *credentials, "-i", f"{device}-sub", "-q", "1", "-C", "1", "-v", "-t", f"devices/{device}/commands/#"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # The command waits for the device however soon after subscribing it is posted.
        posted = service_http.post(f"/telemetry/v1/devices/{device}/commands", json={"payload": "open", "ttl": 60})
        assert posted.status_code == 201, posted.text
        out, err = subscriber.communicate(timeout=WAIT)
        assert subscriber.returncode == 0, err
        assert out.strip() == f"devices/{device}/commands open"  # a JSON string payload goes out as its text
    finally:
        subscriber.kill()


def test_line_protocol_over_http_is_queryable_in_buckets(project, service_http):
    device, _ = new_device(service_http)
    base = int(time.time()) // 60 * 60 - 600  # seconds, on a minute boundary, inside the retention
    lines = "\n".join(f"env,device={device},room=lab temp={20 + i % 3},ok=t {base + i}" for i in range(120))
    stored = service_http.post("/telemetry/v1/ingest", params={"precision": "s"}, content=lines, headers={"Content-Type": "text/plain"})
    assert stored.status_code in (200, 201, 202), stored.text
    buckets = service_http.get("/telemetry/v1/series", params={
        "device": device, "metric": "env.temp", "from": str(base), "to": str(base + 120), "bucket": "1m", "agg": "count",
    })
    assert buckets.status_code == 200, buckets.text
    assert sum(bucket["value"] for bucket in buckets.json()["points"]) == 120
