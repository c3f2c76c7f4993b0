#!/usr/bin/env python3
"""A collector that keeps nothing: accepts OTLP/HTTP protobuf at POST /v1/traces, counts the
spans in each export and answers with an empty ExportTraceServiceResponse (full success).

    otlp_sink.py PORT_FILE COUNT_FILE

Listens on an ephemeral loopback port, written to PORT_FILE once listening; on SIGTERM writes
"<exports> <spans> <bytes>" to COUNT_FILE and exits. Standard library only.
"""
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def varint(data, offset):
    result = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, offset
        shift += 7


def fields(data):
    """(field number, bytes) of each length-delimited field; other wire types are skipped."""
    offset = 0
    while offset < len(data):
        tag, offset = varint(data, offset)
        wire = tag & 7
        if wire == 0:
            _, offset = varint(data, offset)
        elif wire == 1:
            offset += 8
        elif wire == 5:
            offset += 4
        elif wire == 2:
            length, offset = varint(data, offset)
            yield tag >> 3, data[offset:offset + length]
            offset += length
        else:
            raise ValueError("unsupported wire type %d" % wire)


def count_spans(body):
    # ExportTraceServiceRequest.resource_spans = 1 -> ResourceSpans.scope_spans = 2 -> ScopeSpans.spans = 2
    return sum(1 for number, resource in fields(body) if number == 1
               for scope_number, scope in fields(resource) if scope_number == 2
               for span_number, _ in fields(scope) if span_number == 2)


class Counts:
    lock = threading.Lock()
    exports = spans = size = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        spans = count_spans(body)
        with Counts.lock:
            Counts.exports += 1
            Counts.spans += spans
            Counts.size += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    port_file, count_file = sys.argv[1], sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def stop(*_):
        with Counts.lock:
            with open(count_file, "w") as out:
                out.write("%d %d %d\n" % (Counts.exports, Counts.spans, Counts.size))
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    with open(port_file, "w") as out:
        out.write("%d\n" % server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
