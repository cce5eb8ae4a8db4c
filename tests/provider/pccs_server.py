"""A small PCCS for the provider tests: a real loopback HTTP server answering Intel's certification API
(v4 paths, Intel's header names, hex or DER CRLs, 404 for unknown data) from the shared test data, recording
every request, able to fail the next requests with chosen statuses or to serve altered documents."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

from pydcap.collateral import Collateral
from pydcap.pki import Certificate, PckCertificate
from pydcap.pki.certs import split_pem_chain
from pydcap.provider.interface import fmspc_and_ca
from pydcap.quote import Quote
from tests.support.testdata import Bundle


@dataclass
class PccsData:
    """What the server knows: collateral per TEE, the PCK certificate of one platform, the root CA CRL."""

    sgx: Bundle
    tdx: Bundle
    qe_id: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    cache_control: str | None = None
    altered: dict[str, Callable[[bytes], bytes]] = field(default_factory=dict)
    """By endpoint (as ``endpoints`` names them): a change made to what it serves (a CRL's DER, before any hex)."""

    def documents(self, tee: str) -> tuple[str, Collateral]:
        b = self.sgx if tee == "sgx" else self.tdx
        return fmspc_and_ca(b.quote)[0].hex(), Collateral.load(b.path)

    def endpoints(self) -> list[str]:
        """The endpoints asked, in order: each path after ``/v4/``, without its query (``qe/identity``, ``tcb``)."""
        return [path.split("?")[0].split("/v4/", 1)[-1] for path, _ in self.requests]

    def serve(self, endpoint: str, document: bytes) -> bytes:
        change = self.altered.get(endpoint)
        return change(document) if change is not None else document


def _handler(data: PccsData) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            if data.fail_next:
                self._send(data.fail_next.pop(0), b"")
                return
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            segments = parts.path.strip("/").split("/")  # tee, "certification", "v4", endpoint...
            if len(segments) < 4 or segments[1:3] != ["certification", "v4"]:
                self._send(404, b"unknown path")
                return
            self._route(segments[0], "/".join(segments[3:]), query)

        def _route(self, tee: str, endpoint: str, query: dict[str, str]) -> None:
            fmspc, collateral = data.documents(tee)
            sgx = Collateral.load(data.sgx.path)
            if endpoint == "pckcert" and tee == "sgx" and query.get("qeid", "").lower() == data.qe_id.lower():
                blocks = split_pem_chain(Quote.parse(data.sgx.quote).pck_chain_pem or b"")
                pck = PckCertificate.from_certificate(Certificate.from_pem(blocks[0]))
                tcbm = (pck.sgx.tcb.cpu_svn + pck.sgx.tcb.pce_svn.to_bytes(2, "little")).hex()
                issuers = b"\n".join(blocks[1:]) + b"\n"
                headers = {"SGX-TCBm": tcbm, "SGX-PCK-Certificate-Issuer-Chain": quote(issuers.decode())}
                self._send(200, data.serve(endpoint, blocks[0]), headers)
            elif endpoint == "pckcrl" and tee == "sgx" and query.get("ca") in ("processor", "platform"):
                source = Collateral.load((data.sgx if query["ca"] == "processor" else data.tdx).path)
                crl = data.serve(endpoint, source.pck_crl)
                body = crl if query.get("encoding") == "der" else crl.hex().encode()
                self._send(200, body, {"SGX-PCK-CRL-Issuer-Chain": quote(source.pck_crl_issuer_chain.decode())})
            elif (
                endpoint == "tcb"
                and query.get("fmspc", "").lower() == fmspc.lower()
                and query.get("update") in ("standard", "early")
            ):
                chain = quote(collateral.tcb_info_issuer_chain.decode())
                self._send(200, data.serve(endpoint, collateral.tcb_info.to_bytes()), {"TCB-Info-Issuer-Chain": chain})
            elif endpoint in ("qe/identity", "qve/identity"):
                chain = quote(collateral.qe_identity_issuer_chain.decode())
                identity = data.serve(endpoint, collateral.qe_identity.to_bytes())
                self._send(200, identity, {"SGX-Enclave-Identity-Issuer-Chain": chain})
            elif endpoint == "rootcacrl" and tee == "sgx":
                self._send(200, data.serve(endpoint, sgx.root_ca_crl).hex().encode())
            elif endpoint == "crl" and query.get("uri", "").endswith("IntelSGXRootCA.der"):
                self._send(200, data.serve(endpoint, sgx.root_ca_crl))
            else:
                self._send(404, b"No cache data for this platform.")

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if data.cache_control:
                self.send_header("Cache-Control", data.cache_control)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def loopback_server(
    handler: type[http.server.BaseHTTPRequestHandler], context: ssl.SSLContext | None = None
) -> Iterator[str]:
    """Serve ``handler`` on a loopback port (HTTPS with ``context``) in a thread; yields the root URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def running_pccs(data: PccsData) -> Iterator[str]:
    """Serve ``data`` on a loopback port; yields the ``pccs_url`` (``.../sgx/certification/v4/``)."""
    with loopback_server(_handler(data)) as root:
        yield f"{root}/sgx/certification/v4/"
