"""A small PCCS for the provider tests: a real loopback HTTP server answering Intel's certification API
(v4 paths, Intel's header names, hex or DER CRLs, 404 for unknown data) from the shared test data, recording
every request, and able to fail the next requests with chosen statuses."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

from pydcap.collateral import Collateral
from pydcap.pki import Certificate, PckCertificate
from pydcap.pki.certs import split_pem_chain
from pydcap.provider.interface import fmspc_and_ca
from pydcap.quote import Quote
from tests.conftest import Bundle


@dataclass
class PccsData:
    """What the server knows: collateral per TEE, the PCK certificate of one platform, the root CA CRL."""

    sgx: Bundle
    tdx: Bundle
    qe_id: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    cache_control: str | None = None

    def documents(self, tee: str) -> tuple[str, Collateral]:
        b = self.sgx if tee == "sgx" else self.tdx
        return fmspc_and_ca(b.quote)[0].hex(), Collateral.load(b.path)


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
            if endpoint == "pckcert" and tee == "sgx" and query.get("qeid") == data.qe_id:
                blocks = split_pem_chain(Quote.parse(data.sgx.quote).pck_chain_pem or b"")
                pck = PckCertificate.from_certificate(Certificate.from_pem(blocks[0]))
                tcbm = (pck.sgx.tcb.cpu_svn + pck.sgx.tcb.pce_svn.to_bytes(2, "little")).hex()
                issuers = b"\n".join(blocks[1:]) + b"\n"
                self._send(
                    200, blocks[0], {"SGX-TCBm": tcbm, "SGX-PCK-Certificate-Issuer-Chain": quote(issuers.decode())}
                )
            elif endpoint == "pckcrl" and tee == "sgx" and query.get("ca") in ("processor", "platform"):
                source = Collateral.load((data.sgx if query["ca"] == "processor" else data.tdx).path)
                body = source.pck_crl if query.get("encoding") == "der" else source.pck_crl.hex().encode()
                self._send(200, body, {"SGX-PCK-CRL-Issuer-Chain": quote(source.pck_crl_issuer_chain.decode())})
            elif endpoint == "tcb" and query.get("fmspc") == fmspc and query.get("update") in ("standard", "early"):
                chain = quote(collateral.tcb_info_issuer_chain.decode())
                self._send(200, collateral.tcb_info.to_bytes(), {"TCB-Info-Issuer-Chain": chain})
            elif endpoint in ("qe/identity", "qve/identity"):
                chain = quote(collateral.qe_identity_issuer_chain.decode())
                self._send(200, collateral.qe_identity.to_bytes(), {"SGX-Enclave-Identity-Issuer-Chain": chain})
            elif endpoint == "rootcacrl" and tee == "sgx":
                self._send(200, sgx.root_ca_crl.hex().encode())
            elif endpoint == "crl" and query.get("uri", "").endswith("IntelSGXRootCA.der"):
                self._send(200, sgx.root_ca_crl)
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
def running_pccs(data: PccsData) -> Iterator[str]:
    """Serve ``data`` on a loopback port; yields the ``pccs_url`` (``.../sgx/certification/v4/``)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(data))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sgx/certification/v4/"
    finally:
        server.shutdown()
        server.server_close()
