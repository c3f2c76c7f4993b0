#!/usr/bin/env python3
"""MQTT 3.1.1 counterpart of `cellbase bench realtime-fanout`, for the Mosquitto side of
benchmarks/realtime.sh. Python standard library only.

N subscriber connections subscribe to one topic at QoS 0; one publisher connection publishes QoS 0
messages to it on an open-loop schedule (message k due at start + k / rate) for --warmup and then
--duration seconds. Each message carries its sequence number and the moment it was due on this
machine's monotonic clock; subscribers record arrival minus that moment. Deliveries of messages due
in the measured window are counted, waiting up to 5 s after it for those still on their way.
PINGREQ goes every 25 s. Prints one JSON object with the fields of the bench's `realtime` report.
"""
import argparse
import asyncio
import json
import struct
import time

DRAIN_SECONDS = 5
KEEPALIVE_SECONDS = 60
PING_SECONDS = 25


def remaining_length(length):
    out = bytearray()
    while True:
        byte = length % 128
        length //= 128
        out.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(out)


def utf8(text):
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def connect_packet(client_id):
    body = utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", KEEPALIVE_SECONDS) + utf8(client_id)
    return bytes([0x10]) + remaining_length(len(body)) + body


def subscribe_packet(topic):
    body = struct.pack("!H", 1) + utf8(topic) + bytes([0])
    return bytes([0x82]) + remaining_length(len(body)) + body


def publish_packet(topic, payload):
    body = utf8(topic) + payload
    return bytes([0x30]) + remaining_length(len(body)) + body


PINGREQ = bytes([0xC0, 0x00])


class Run:
    """Counters shared by the connections of one run."""

    def __init__(self):
        self.window = None  # (start_ns, end_ns) once publishing starts
        self.deliveries = 0
        self.messages = 0
        self.latencies_us = []


class MQTTConnection(asyncio.Protocol):
    """One MQTT connection: answers CONNACK/SUBACK to `ready`, then counts PUBLISH packets."""

    def __init__(self, run, topic, subscribe):
        self.run = run
        self.topic = topic
        self.subscribe = subscribe
        self.buffer = bytearray()
        self.ready = asyncio.get_running_loop().create_future()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(connect_packet(f"bench-{id(self):x}"))

    def connection_lost(self, exc):
        if not self.ready.done():
            self.ready.set_result(False)

    def data_received(self, data):
        self.buffer += data
        while True:
            packet = self.next_packet()
            if packet is None:
                return
            kind, body = packet
            if kind == 0x20:  # CONNACK
                if body[1] != 0:
                    self.ready.set_result(False)
                elif self.subscribe:
                    self.transport.write(subscribe_packet(self.topic))
                else:
                    self.ready.set_result(True)
            elif kind == 0x90:  # SUBACK
                if not self.ready.done():
                    self.ready.set_result(body[2] != 0x80)
            elif kind == 0x30:  # PUBLISH, QoS 0
                self.delivered(body)

    def next_packet(self):
        if len(self.buffer) < 2:
            return None
        length, multiplier, index = 0, 1, 1
        while True:
            if index >= len(self.buffer):
                return None
            byte = self.buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
        if len(self.buffer) < index + length:
            return None
        kind = self.buffer[0] & 0xF0
        body = bytes(self.buffer[index:index + length])
        del self.buffer[:index + length]
        return kind, body

    def delivered(self, body):
        topic_length = struct.unpack_from("!H", body)[0]
        sequence, sent = body[2 + topic_length:].split(b",")
        sent = int(sent)
        window = self.run.window
        if window and window[0] <= sent < window[1]:
            self.run.deliveries += 1
            self.run.latencies_us.append(max((time.monotonic_ns() - sent) // 1000, 1))


async def open_connection(loop, run, host, port, topic, subscribe):
    try:
        _, protocol = await loop.create_connection(lambda: MQTTConnection(run, topic, subscribe), host, port)
    except OSError:
        return None
    joined = await asyncio.wait_for(protocol.ready, 30)
    return protocol if joined else None


async def keep_alive(connections):
    while True:
        await asyncio.sleep(PING_SECONDS)
        for connection in connections:
            connection.transport.write(PINGREQ)


def percentile(values, share):
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(share * len(values)))] / 1000


async def main(options):
    loop = asyncio.get_running_loop()
    run = Run()
    subscribers = []
    pending = list(range(options.connections))
    while pending:
        batch, pending = pending[:256], pending[256:]
        opened = await asyncio.gather(*(open_connection(loop, run, options.host, options.port, options.topic, True) for _ in batch))
        subscribers += [connection for connection in opened if connection]
    publisher = await open_connection(loop, run, options.host, options.port, options.topic, False)
    if publisher is None:
        raise SystemExit("the publisher could not connect")
    pinger = asyncio.ensure_future(keep_alive(subscribers + [publisher]))

    start = time.monotonic_ns()
    window_start = start + int(options.warmup * 1e9)
    window_end = window_start + int(options.duration * 1e9)
    run.window = (window_start, window_end)
    sequence = 0
    while True:
        due = start + int(sequence * 1e9 / options.rate)
        if due >= window_end:
            break
        now = time.monotonic_ns()
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
        publisher.transport.write(publish_packet(options.topic, b"%d,%d" % (sequence, due)))
        if due >= window_start:
            run.messages += 1
        sequence += 1
    drain_end = time.monotonic() + DRAIN_SECONDS
    while run.deliveries < run.messages * len(subscribers) and time.monotonic() < drain_end:
        await asyncio.sleep(0.05)
    pinger.cancel()
    for connection in subscribers + [publisher]:
        connection.transport.close()

    latencies = sorted(run.latencies_us)
    expected = run.messages * len(subscribers)
    print(json.dumps({
        "subscribers": options.connections,
        "joined": len(subscribers),
        "messages": run.messages,
        "deliveries": run.deliveries,
        "missing_deliveries": max(0, expected - run.deliveries),
        "deliveries_per_second": round(run.deliveries / options.duration, 1),
        "latency_ms": {
            "p50": percentile(latencies, 0.5),
            "p90": percentile(latencies, 0.9),
            "p99": percentile(latencies, 0.99),
            "p99_9": percentile(latencies, 0.999),
            "max": latencies[-1] / 1000 if latencies else 0.0,
        },
    }, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", default="cellbase-bench-fanout")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--duration", type=float, default=10)
    asyncio.run(main(parser.parse_args()))
