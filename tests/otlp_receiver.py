"""A real OTLP trace receiver for tests, on 127.0.0.1 with an ephemeral port.

Built on the official ``opentelemetry-proto`` service definitions: gRPC serves
``opentelemetry.proto.collector.trace.v1.TraceService``; HTTP accepts protobuf
``ExportTraceServiceRequest`` bodies on ``POST /v1/traces`` as the OTLP/HTTP spec says.
It keeps every request (decoded, and the raw bytes) and the headers it was sent.
"""

from __future__ import annotations

import gzip
import socket
import threading
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

Mode = Literal["grpc", "http"]


@dataclass
class Received:
    requests: list[trace_service_pb2.ExportTraceServiceRequest] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """Every received span with its resource attributes: [(resource_attrs, span_pb)]."""
        out = []
        for request in self.requests:
            for rs in request.resource_spans:
                resource = {kv.key: kv.value for kv in rs.resource.attributes}
                for ss in rs.scope_spans:
                    out.extend((resource, span) for span in ss.spans)
        return out


class OtlpReceiver:
    """Start with :meth:`start`; ``endpoint`` is then the URL to give an exporter.

    Args:
        mode: ``grpc`` or ``http``.
        refuse: answer every export with an error (gRPC INVALID_ARGUMENT, HTTP 400), as a
            receiver that rejects the data would.
    """

    def __init__(self, mode: Mode, refuse: bool = False) -> None:
        self.mode = mode
        self.refuse = refuse
        self.received = Received()
        self._lock = threading.Lock()
        self.endpoint = ""
        self._grpc_server: grpc.Server | None = None
        self._http_server: ThreadingHTTPServer | None = None

    def _keep(self, raw: bytes, headers: dict[str, str]) -> None:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(raw)
        with self._lock:
            self.received.requests.append(request)
            self.received.raw.append(raw)
            self.received.headers.append(headers)

    def start(self) -> OtlpReceiver:
        if self.mode == "grpc":
            self._start_grpc()
        else:
            self._start_http()
        return self

    def _start_grpc(self) -> None:
        receiver = self

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):
                headers = {k: v for k, v in context.invocation_metadata()}
                if receiver.refuse:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "this receiver refuses everything")
                receiver._keep(request.SerializeToString(), headers)
                return trace_service_pb2.ExportTraceServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._grpc_server = server
        self.endpoint = f"http://127.0.0.1:{port}"

    def _start_http(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self._answer(404, b"")
                    return
                if receiver.refuse:
                    self._answer(400, b"refused")
                    return
                receiver._keep(body, {k.lower(): v for k, v in self.headers.items()})
                self._answer(200, trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

            def _answer(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._http_server = server
        self.endpoint = f"http://127.0.0.1:{server.server_address[1]}"

    def stop(self) -> None:
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None)
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
