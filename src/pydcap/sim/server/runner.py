"""Running an ASGI app with uvicorn in a background thread, on a socket we own, so that an outage can close
the listening socket (connections refused) and a recovery can reopen the same port."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT = 10.0


class ServerThread:
    """One uvicorn server on ``host:port`` (port 0 picks a free port, kept across restarts); over TLS when
    ``tls`` gives (certificate file, key file)."""

    def __init__(
        self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, tls: tuple[str, str] | None = None
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        # Held across a whole start or stop, so a restart waits until the old server released the port.
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            sock = self._listen()
            config = uvicorn.Config(
                self.app,
                http="h11",
                lifespan="off",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=2,
                ssl_certfile=self.tls[0] if self.tls else None,
                ssl_keyfile=self.tls[1] if self.tls else None,
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"pydcap-sim-pcs-{self.port}"
            )
            thread.start()
            deadline = time.monotonic() + START_TIMEOUT
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    server.should_exit = True
                    thread.join(timeout=START_TIMEOUT)
                    sock.close()
                    raise RuntimeError(f"the simulated PCS did not start on {self.host}:{self.port}")
                time.sleep(0.005)
            self._server, self._thread = server, thread

    def _listen(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return sock

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
