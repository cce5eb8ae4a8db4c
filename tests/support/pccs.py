"""What the PCCS tests share besides fixtures: tokens, the PCCS configuration they start, request helpers, and
``serving`` (``pydcap pccs serve`` in a subprocess on a free port)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from pydcap.intel.protocol import url_encoded
from pydcap.pccs import PccsConfig, PccsServer
from pydcap.sim import SimulatedIntel
from pydcap.sim.pki import ROOT_CRL_URL
from tests.support.processes import free_port, stop, wait_for_port

ADMIN_TOKEN = "admin-secret"


USER_TOKEN = "user-secret"


ADMIN = {"admin-token": ADMIN_TOKEN}


USER = {"user-token": USER_TOKEN}


V4 = "/sgx/certification/v4"


def base_config(directory: Path, upstream: str, root: Path, **changes: Any) -> PccsConfig:
    config = PccsConfig(
        port=0,
        upstream=upstream,
        database=str(directory / "pckcache.sqlite3"),
        root_ca=str(root),
        insecure_http=True,
        state_dir=str(directory),
        admin_token_hash=hashlib.sha512(ADMIN_TOKEN.encode()).hexdigest(),
        user_token_hash=hashlib.sha512(USER_TOKEN.encode()).hexdigest(),
        upstream_timeout=2.0,
    )
    return replace(config, **changes)


Factory = Callable[..., PccsServer]


def client(server: PccsServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, verify=False, timeout=30)


def pckcert_params(
    platform: Any, *, with_ppid: bool = True, cpu_svn: bytes | None = None, pce_svn: int | None = None
) -> dict[str, str]:
    params = {
        "qeid": platform.qe_id.hex(),
        "cpusvn": (cpu_svn if cpu_svn is not None else platform.cpu_svn).hex(),
        "pcesvn": (pce_svn if pce_svn is not None else platform.pce_svn).to_bytes(2, "little").hex(),
        "pceid": platform.pce_id.hex(),
    }
    if with_ppid:
        params["encrypted_ppid"] = platform.encrypted_ppid.hex()
    return params


def registration(platform: Any) -> dict[str, str]:
    return {
        "qe_id": platform.qe_id.hex(),
        "pce_id": platform.pce_id.hex(),
        "cpu_svn": platform.cpu_svn.hex(),
        "pce_svn": platform.pce_svn.to_bytes(2, "little").hex(),
        "enc_ppid": platform.encrypted_ppid.hex(),
    }


_WITH_FILE_LIMIT = (
    "import resource, runpy, sys; "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (%d, resource.getrlimit(resource.RLIMIT_NOFILE)[1])); "
    "runpy.run_module('pydcap', run_name='__main__', alter_sys=True)"
)


@contextmanager
def serving(
    args: list[str], directory: Path, env: dict[str, str] | None = None, *, open_files: int | None = None
) -> Iterator[tuple[subprocess.Popen[str], int, list[str]]]:
    """``pydcap pccs serve ARGS`` in a subprocess on a free port, its store in ``directory``; stopped with SIGINT.
    ``open_files``: the process's limit of open files (RLIMIT_NOFILE)."""
    port = free_port()
    env = {
        **os.environ,
        **(env or {}),
        "PYDCAP_PCCS_ADMIN_TOKEN_HASH": hashlib.sha512(ADMIN_TOKEN.encode()).hexdigest(),
        "PYDCAP_PCCS_USER_TOKEN_HASH": hashlib.sha512(USER_TOKEN.encode()).hexdigest(),
        "PYDCAP_PCCS_LOG_LEVEL": "warning",
    }
    command = [
        sys.executable,
        "-m",
        "pydcap",
        "pccs",
        "serve",
        "--port",
        str(port),
        "--db",
        str(directory / "db.sqlite3"),
        *args,
    ]
    if open_files is not None:  # the same command, run by a Python that lowered its limit first
        command[1:3] = ["-c", _WITH_FILE_LIMIT % open_files]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    assert process.stderr is not None
    threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True).start()  # type: ignore[arg-type]
    if not wait_for_port(port, process, timeout=20):
        process.kill()
        pytest.fail(f"pydcap pccs serve did not start: {''.join(lines)}")
    try:
        yield process, port, lines
    finally:
        stop(process)


class Clock:
    """The wall clock, moved on by ``offset`` seconds (a PCCS's ``clock``)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


TCB_CHAIN = {3: "SGX-TCB-Info-Issuer-Chain", 4: "TCB-Info-Issuer-Chain"}


def admin_tool_file(intel: SimulatedIntel, platforms: list[Any], *, api: int, evaluation: int | None = None) -> Any:
    """What ``pccsadmin fetch -u <PCS>/sgx/certification/v<api>/`` writes for ``platforms`` (standard update):
    the platform list as given, every TCB level's PCK certificate with the issuer chain of each platform's CA
    only, TCB infos as JSON objects (v3: ``tcbinfo``, a TCB info v2; v4: ``sgx_tcbinfo`` and ``tdx_tcbinfo``),
    identities as the served text (v3: without advisories, and no TD QE), both PCK CRLs and the root CA CRL in
    hex. ``evaluation`` picks the TCB evaluation data number of the documents."""
    v4 = api == 4
    rows = [{**registration(p), "platform_manifest": ""} for p in platforms]
    pck_chains: dict[str, str] = {}
    pck_certs = []
    for platform in platforms:
        pck_chains[platform.ca.upper()] = url_encoded(intel.pck_crl_issuer_chain(platform.ca))
        certs = [
            {"tcb": tcb, "tcbm": tcbm, "cert": url_encoded(pem)} for tcb, tcbm, pem in intel.pck_certificates(platform)
        ]
        pck_certs.append({"qe_id": platform.qe_id.hex(), "pce_id": platform.pce_id.hex(),
                          "enc_ppid": platform.encrypted_ppid.hex(), "platform_manifest": "", "certs": certs})  # fmt: skip
    tcbinfos = []
    for fmspc in sorted({p.fmspc for p in platforms}):
        item: dict[str, Any] = {"fmspc": fmspc.hex().upper()}
        if v4:
            item["sgx_tcbinfo"] = json.loads(intel.tcb_info(fmspc, "sgx", evaluation=evaluation))
            with contextlib.suppress(LookupError):  # none for an SGX-only FMSPC
                item["tdx_tcbinfo"] = json.loads(intel.tcb_info(fmspc, "tdx", evaluation=evaluation))
        else:
            item["tcbinfo"] = json.loads(intel.tcb_info(fmspc, "sgx", evaluation=evaluation, version=2))
        tcbinfos.append(item)

    def identity(enclave: str) -> str:
        return intel.enclave_identity(enclave, evaluation=evaluation, advisories=v4).decode()

    signing = url_encoded(intel.signing_chain)
    collaterals = {
        "version": api,
        "pck_certs": pck_certs,
        "tcbinfos": tcbinfos,
        "pckcacrl": {"processorCrl": intel.pck_crl("processor").hex(), "platformCrl": intel.pck_crl("platform").hex()},
        "qeidentity": identity("QE"),
        "tdqeidentity": identity("TD_QE") if v4 else "",
        "qveidentity": identity("QVE"),
        "certificates": {"SGX-PCK-Certificate-Issuer-Chain": pck_chains, TCB_CHAIN[api]: signing,
                         "SGX-Enclave-Identity-Issuer-Chain": signing},
        "rootcacrl_cdp": ROOT_CRL_URL,
        "rootcacrl": intel.root_ca_crl().hex(),
    }  # fmt: skip
    return {"platforms": rows, "collaterals": collaterals}
