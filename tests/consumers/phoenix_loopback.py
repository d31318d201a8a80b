"""Starts Phoenix (`phoenix serve`) with its gRPC receiver on 127.0.0.1.

Phoenix binds its OTLP/gRPC port on every address (``[::]``), with no setting to change it; the
suite's rule is that nothing it starts listens beyond 127.0.0.1. So the one bind call is given
the loopback address; nothing else of Phoenix is touched. Run with the consumers' venv's python.
"""

import sys

import grpc.aio._server as aio_server

_add_insecure_port = aio_server.Server.add_insecure_port


def _loopback(self, address):  # type: ignore[no-untyped-def]
    return _add_insecure_port(self, address.replace("[::]", "127.0.0.1"))


aio_server.Server.add_insecure_port = _loopback  # type: ignore[method-assign]

from phoenix.server.main import main  # noqa: E402

if __name__ == "__main__":
    sys.argv = ["phoenix", "serve"]
    main()
