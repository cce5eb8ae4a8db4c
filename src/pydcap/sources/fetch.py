"""Fetch everything one quote's verification needs, straight from a source, concurrently.

No cache and no trust decision here (the verifier checks what comes back); ``pydcap.cache`` adds both.
``fetch_collateral_sync`` runs the same on a private event loop for callers without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

from pydcap.collateral import Collateral
from pydcap.errors import FormatError
from pydcap.intel import PlatformId, Update
from pydcap.quote import Quote
from pydcap.sources.base import CollateralSource
from pydcap.sources.errors import MalformedResponseError
from pydcap.sources.models import CollateralRequest, Fetched


async def gather_or_fail(*awaitables: Awaitable[Any]) -> list[Any]:
    """All results in order; on the first failure the others are cancelled and that failure is raised
    (one named error, not an exception group)."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
            # Failures after the first are reported through the first; mark them seen.
            task.add_done_callback(_retrieve)
    for task in tasks:
        failure = task.exception() if task.done() and not task.cancelled() else None
        if failure is not None:
            raise failure
    return [task.result() for task in tasks]


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def collateral_from_parts(
    root_ca_crl: Fetched, pck_crl: Fetched, tcb_info: Fetched, qe_identity: Fetched
) -> Collateral:
    """A ``Collateral`` from fetched parts; a part that cannot be read names the URL it came from."""
    try:
        return Collateral.create(
            pck_crl=pck_crl.data,
            pck_crl_issuer_chain=pck_crl.issuer_chain,
            root_ca_crl=root_ca_crl.data,
            tcb_info=tcb_info.data,
            tcb_info_issuer_chain=tcb_info.issuer_chain,
            qe_identity=qe_identity.data,
            qe_identity_issuer_chain=qe_identity.issuer_chain,
        )
    except FormatError as exc:
        parts = {"root_ca_crl": root_ca_crl, "pck_crl": pck_crl, "tcb_info": tcb_info, "qe_identity": qe_identity}
        part = parts.get(getattr(exc, "part", ""))
        raise MalformedResponseError(
            "collateral",
            part.url if part is not None else "(several URLs)",
            200,
            str(exc),
            "the service answered an unreadable document",
        ) from exc


def pck_chain(leaf: bytes, issuer_chain: bytes) -> bytes:
    """A PCK certificate and its issuer chain as the chain a quoting enclave embeds: leaf, its CA, root (PEM)."""
    return (leaf if leaf.endswith(b"\n") else leaf + b"\n") + issuer_chain


async def fetch_collateral(
    source: CollateralSource, quote: bytes | Quote, *, update: Update = Update.STANDARD
) -> Collateral:
    """The root CA CRL, PCK CRL, TCB info and QE identity for ``quote``, fetched concurrently; for a quote that
    carries an encrypted PPID, first its PCK certificate (by QE-ID, encrypted PPID, raw TCB and PCE-ID, as Intel's
    QCNL asks), returned as the collateral's ``pck_chain``."""
    q = quote if isinstance(quote, Quote) else Quote.parse(quote)
    chain = None
    if q.pck_chain_pem is None and q.certification_data.encrypted_ppid is not None:
        fetched = await source.pck_certificate(PlatformId.from_quote(q))
        chain = pck_chain(fetched.data, fetched.issuer_chain)
    request = CollateralRequest.from_quote(q, chain)
    root, pck, tcb, qe = await gather_or_fail(
        source.root_ca_crl(),
        source.pck_crl(request.ca),
        source.tcb_info(request.tee, request.fmspc, update),
        source.qe_identity(request.tee, update),
    )
    return replace(collateral_from_parts(root, pck, tcb, qe), pck_chain=chain)


def fetch_collateral_sync(
    source: CollateralSource, quote: bytes | Quote, *, update: Update = Update.STANDARD
) -> Collateral:
    """``fetch_collateral`` for synchronous callers (not from inside a running event loop)."""

    async def run() -> Collateral:
        try:
            return await fetch_collateral(source, quote, update=update)
        finally:
            await source.aclose()

    return asyncio.run(run())
