"""``ServerThread``: an ASGI application served by uvicorn under ``ServerLimits`` in a background thread, on a
socket it owns, so that an outage can close the listening socket (connections refused) and a restart can reopen
the same port."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from pydcap.serving.limits import ServerLimits
from pydcap.serving.protocol import ServerConfig, tcp_socket

START_TIMEOUT = 15.0


class ServerThread:
    """One uvicorn server on ``host:port`` (port 0 picks a free port, kept across restarts), over TLS when ``tls``
    gives (certificate file, key file), enforcing ``limits``. ``options`` are more of uvicorn's (``lifespan``,
    ``timeout_graceful_shutdown``, ...)."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: tuple[str, str] | None = None,
        *,
        limits: ServerLimits | None = None,
        name: str = "pydcap-server",
        **options: Any,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self.limits = limits
        self.name = name
        self.options = {
            "lifespan": "off", "timeout_graceful_shutdown": 2, "loop": "asyncio", "log_level": "warning",
            "access_log": False, **options,
        }  # fmt: skip
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        # Held across a whole start or stop, so a restart waits until the old server released the port.
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Serve; returns once the server accepts connections. ``RuntimeError`` if it did not start in time,
        ``OSError`` if the address cannot be bound."""
        with self._lock:
            if self.running:
                return
            sock = tcp_socket(self.host, self.port)
            self.port = sock.getsockname()[1]
            config = ServerConfig(
                self.app,
                limits=self.limits,
                ssl_certfile=self.tls[0] if self.tls else None,
                ssl_keyfile=self.tls[1] if self.tls else None,
                **self.options,
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"{self.name}-{self.port}"
            )
            thread.start()
            deadline = time.monotonic() + START_TIMEOUT
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    server.should_exit = True
                    thread.join(timeout=START_TIMEOUT)
                    sock.close()
                    raise RuntimeError(f"the server {self.name} did not start on {self.host}:{self.port}")
                time.sleep(0.005)
            self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving and wait until the listening socket is closed. Not from the server's own thread."""
        if self.in_server_thread():
            raise RuntimeError("the server cannot be stopped from its own thread")
        with self._lock:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            server.should_exit = True
            thread.join(timeout=START_TIMEOUT)
            # Cleared only now, so that code running in the server thread until it ends is recognised as such.
            self._server = self._thread = None

    def in_server_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread
