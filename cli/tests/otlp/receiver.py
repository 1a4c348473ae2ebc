#!/usr/bin/env python3
"""A real OTLP/HTTP receiver for the telemetry test (cli/tests/otlp_e2e.rs).

Accepts POST /v1/traces and /v1/metrics with protobuf bodies (optionally gzip), decodes them
with the `opentelemetry-proto` package (pinned in .ci/run), and appends one JSON line per span
and per metric data point to the output file before answering, so that a flush the exporter
waited for is on disk when the exporter's caller goes on.

    python3 receiver.py OUT.jsonl      # prints "listening PORT" on 127.0.0.1, serves until killed
    python3 receiver.py OUT.jsonl --count-only   # one line per export (path, bytes), not decoded

Exits 3 with a message when `opentelemetry-proto` is missing (the test then says SKIPPED).
"""
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"receiver: opentelemetry-proto is not installed: {e}", file=sys.stderr)
    sys.exit(3)

MAX_BODY = 16 * 1024 * 1024
lock = threading.Lock()
exports = 0  # numbers each export request: cumulative metrics are read from the latest


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attrs(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def spans(req):
    for rs in req.resource_spans:
        resource = attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                yield {
                    "signal": "span",
                    "service": resource.get("service.name"),
                    "scope": ss.scope.name,
                    "name": s.name,
                    "kind": s.kind,
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex(),
                    "flags": s.flags,
                    "start": s.start_time_unix_nano,
                    "end": s.end_time_unix_nano,
                    "attributes": attrs(s.attributes),
                }


def metrics(req):
    for rm in req.resource_metrics:
        resource = attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                data = m.WhichOneof("data")
                out = {
                    "signal": "metric",
                    "service": resource.get("service.name"),
                    "scope": sm.scope.name,
                    "name": m.name,
                    "unit": m.unit,
                    "type": data,
                }
                for p in getattr(m, data).data_points:
                    point = dict(out, attributes=attrs(p.attributes))
                    if data == "histogram":
                        point.update(count=p.count, sum=p.sum)
                    elif data in ("sum", "gauge"):
                        point["value"] = getattr(p, p.WhichOneof("value"))
                    yield point


SIGNALS = {
    "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest, spans,
                   trace_service_pb2.ExportTraceServiceResponse),
    "/v1/metrics": (metrics_service_pb2.ExportMetricsServiceRequest, metrics,
                    metrics_service_pb2.ExportMetricsServiceResponse),
}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        signal = SIGNALS.get(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if signal is None or length > MAX_BODY:
            self.send_error(404 if signal is None else 413)
            return
        body = self.rfile.read(length)
        if COUNT_ONLY:
            with lock, open(OUT, "a", encoding="utf-8") as f:
                f.write(json.dumps({"signal": "export", "path": self.path, "bytes": len(body)}) + "\n")
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        request_type, lines, response_type = signal
        req = request_type()
        try:
            req.ParseFromString(body)
        except Exception as e:  # a malformed export is the exporter's bug: say so
            self.send_error(400, f"not an OTLP protobuf: {e}")
            return
        global exports
        with lock, open(OUT, "a", encoding="utf-8") as f:
            exports += 1
            for line in lines(req):
                line["export"] = exports
                f.write(json.dumps(line, sort_keys=True) + "\n")
            f.flush()
        answer = response_type().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    OUT = sys.argv[1]
    COUNT_ONLY = "--count-only" in sys.argv[2:]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()
