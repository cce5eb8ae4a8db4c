"""``pydcap verify`` on many quotes at once: the inputs, the collateral each quote takes, and worker processes.

Inputs are quote files, directories of quote files, or JSON-lines batches (``{"quote": "<base64>", "id": ...}``
per line; a file whose first byte is ``{``). Each quote takes the collateral bundle whose TCB info is for its TEE
and FMSPC and whose PCK CRL is its CA's (or the only bundle given), or what a collateral service returns for it.
Quotes are spread over ``--jobs`` processes, each with one long-lived verifier; the results come out in input
order, one line per quote (one JSON object per line with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydcap.cli import EXIT_COLLATERAL_UNAVAILABLE, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, CliError
from pydcap.collateral import Collateral
from pydcap.collateral.tcb_info import TcbInfo
from pydcap.errors import FormatError
from pydcap.pki import RevocationList, TrustRoot
from pydcap.pki.pck import ca_type
from pydcap.policy import Policy
from pydcap.quote.encoding import decode_base64
from pydcap.sources.models import CollateralRequest, PckCa, Tee
from pydcap.trust.memo import PkiMemo
from pydcap.verify import Verifier

CHUNK = 32  # quotes per task sent to a worker: enough to make the hand-over cheap, few enough to keep order moving


@dataclass(frozen=True)
class QuoteInput:
    """One quote of a batch: where it came from, and its bytes (or why there are none)."""

    source: str
    data: bytes | None
    error: str | None = None


def read_inputs(paths: Sequence[str], *, stdin: bytes | None = None) -> list[QuoteInput]:
    """The quotes named on the command line, in order: files (``-``: standard input, or ``stdin`` if it was read
    already), every file of a directory (by name), and every line of a JSON-lines batch. An unreadable path is a
    usage error; an unreadable line is one failed input."""
    inputs: list[QuoteInput] = []
    for path in paths:
        p = Path(path)
        if path == "-":
            data = sys.stdin.buffer.read() if stdin is None else stdin
            inputs.extend(_json_lines(path, data) if data[:1] == b"{" else [QuoteInput(path, data)])
            continue
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file())
            if not files:
                raise CliError(f"directory {path} holds no quote files")
            inputs.extend(QuoteInput(str(f), _read(f)) for f in files)
            continue
        data = _read(p)
        if data[:1] == b"{":
            inputs.extend(_json_lines(path, data))
        else:
            inputs.append(QuoteInput(path, data))
    return inputs


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read quote {path}: {exc.strerror}") from exc


def _json_lines(path: str, data: bytes) -> Iterator[QuoteInput]:
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            item = json.loads(line)
            encoded = item["quote"]
            if not isinstance(encoded, str):
                raise TypeError("'quote' is not a string")
            source = str(item.get("id", where))
            quote = decode_base64(encoded)
        except (ValueError, KeyError, TypeError) as exc:
            yield QuoteInput(where, None, f'line {number} is not {{"quote": "<base64>"}}: {exc}')
            continue
        yield QuoteInput(source, quote)


def fetch_bundles(
    args: argparse.Namespace, inputs: list[QuoteInput], root: TrustRoot | None, at: int
) -> tuple[list[Collateral], list[int | str | None]]:
    """The collateral of every quote from the service the options name (``--pcs``, ``--pccs``, ``--azure``),
    fetched once per TEE, FMSPC and CA: the bundles, and each quote's bundle (or why it has none)."""
    from pydcap.cli.collateral import collateral_service
    from pydcap.errors import CollateralError

    bundles: list[Collateral] = []
    by_request: dict[CollateralRequest, int | str] = {}
    chosen: list[int | str | None] = []
    with collateral_service(args, root, at) as service:
        for item in inputs:
            if item.data is None:
                chosen.append(None)
                continue
            try:
                request: CollateralRequest | None = CollateralRequest.from_quote(item.data)
            except FormatError:
                request = None  # an encrypted PPID: the service finds the PCK certificate, and so the request
            if request not in by_request:
                try:
                    fetched = service.fetch(item.data)
                except CollateralError as exc:
                    outcome: int | str = f"collateral unavailable: {exc}"
                except FormatError as exc:
                    outcome = f"cannot tell which collateral the quote needs: {exc}"
                else:
                    request = fetched.request
                    outcome = by_request.setdefault(request, len(bundles))
                    if outcome == len(bundles):
                        bundles.append(fetched.collateral)
                if request is None:
                    chosen.append(outcome)
                    continue
                by_request[request] = outcome
            chosen.append(by_request[request])
    return bundles, chosen


def collateral_key(collateral: Collateral) -> tuple[Tee, bytes, PckCa] | None:
    """What a bundle is for: the TEE and FMSPC of its TCB info and the CA of its PCK CRL (None if unreadable)."""
    try:
        tcb = TcbInfo.parse(collateral.tcb_info)
        issuer = RevocationList.parse(collateral.pck_crl).issuer_cn
    except FormatError:
        return None
    return Tee.TDX if tcb.is_tdx else Tee.SGX, tcb.fmspc, PckCa(ca_type(issuer))


def load_bundles(paths: Sequence[str]) -> list[Collateral]:
    """Each ``--collateral`` path: a bundle (directory or JSON file), or a directory of bundles."""
    from pydcap.cli.inputs import load_collateral

    bundles: list[Collateral] = []
    for path in paths:
        p = Path(path)
        if p.is_dir() and not (p / "tcb_info.json").exists() and not (p / "collateral").is_dir():
            subs = sorted(s for s in p.iterdir() if s.is_dir() or s.suffix == ".json")
            if not subs:
                raise CliError(f"--collateral {path} is neither a bundle nor a directory of bundles")
            bundles.extend(load_collateral(str(s)) for s in subs)
        else:
            bundles.append(load_collateral(path))
    return bundles


@dataclass(frozen=True)
class _Job:
    """What every worker needs, sent once: the trust root, the policy, the bundles and how to print."""

    root_pem: bytes | None
    policy: Policy
    bundles: tuple[Collateral, ...]
    keys: tuple[tuple[Tee, bytes, PckCa] | None, ...]
    at: int | None
    as_json: bool


@dataclass(frozen=True)
class _Worker:
    job: _Job
    verifier: Verifier
    memo: PkiMemo  # CA certificates, read once, for choosing each quote's bundle


_WORKERS: list[_Worker] = []  # the one worker of this process, set up by _start


def _start(job: _Job) -> None:
    verifier = Verifier(trusted_root=job.root_pem, policy=job.policy)
    _WORKERS[:] = [_Worker(job, verifier, PkiMemo(trust=verifier.trust))]


Task = tuple[int, QuoteInput, "int | str | None"]  # index, quote, its bundle (or why none; None: choose it)


def _verify_chunk(chunk: list[Task]) -> list[tuple[int, int, str]]:
    """(index, exit status, output line) for each quote of ``chunk``."""
    worker = _WORKERS[0]
    return [(index, *_verify_one(worker, item, chosen)) for index, item, chosen in chunk]


def _verify_one(worker: _Worker, item: QuoteInput, chosen: int | str | None) -> tuple[int, str]:
    job = worker.job
    if item.data is None:
        return EXIT_USAGE, _error_line(job, item.source, item.error or "unreadable", EXIT_USAGE)
    bundle = _choose(worker, item.data) if chosen is None else chosen
    if isinstance(bundle, str):
        return EXIT_COLLATERAL_UNAVAILABLE, _error_line(job, item.source, bundle, EXIT_COLLATERAL_UNAVAILABLE)
    result = worker.verifier.verify(item.data, job.bundles[bundle], at=job.at)
    status = EXIT_OK if result.accepted else EXIT_REJECTED
    if job.as_json:
        return status, json.dumps({"source": item.source, **result.to_dict()})
    verdict = "ACCEPTED" if result.accepted else "REJECTED"
    what = f"{result.tee} v{result.quote_version}" if result.quote else "quote"
    why = result.failure.value if result.failure else result.tcb_status.value if result.tcb_status else ""
    reasons = "" if result.accepted else "  " + "; ".join(result.reasons)
    return status, f"{verdict}  {item.source}  {what}  {why}{reasons}"


def _choose(worker: _Worker, quote: bytes) -> int | str:
    """The bundle for ``quote``: the only one, or the one for its TEE, FMSPC and CA (else why there is none)."""
    job = worker.job
    if len(job.bundles) == 1:
        return 0
    try:
        request = CollateralRequest.from_quote(quote, load=worker.memo.certificate)
    except FormatError as exc:
        return f"cannot tell which collateral the quote needs: {exc}"
    wanted = (request.tee, request.fmspc, request.ca)
    for index, key in enumerate(job.keys):
        if key == wanted:
            return index
    return (
        f"no --collateral bundle is for {request.tee.value.upper()} FMSPC {request.fmspc.hex().upper()} "
        f"({request.ca.value} CA)"
    )


def _error_line(job: _Job, source: str, message: str, status: int) -> str:
    if job.as_json:
        return json.dumps({"source": source, "error": message, "exit_status": status})
    return f"ERROR     {source}  {message}"


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_batch(
    inputs: list[QuoteInput],
    bundles: list[Collateral],
    chosen: list[int | str | None],
    *,
    root_pem: bytes | None,
    policy: Policy,
    at: int | None,
    jobs: int,
    as_json: bool,
) -> int:
    """Verify ``inputs`` over ``jobs`` processes and print one line each, in order. ``chosen`` is each quote's
    bundle, or why it has none, or None to pick it by the quote. The exit status is the worst of the quotes':
    0 all accepted, 1 some rejected, 2 some unreadable, 3 some without collateral."""
    job = _Job(root_pem, policy, tuple(bundles), tuple(collateral_key(b) for b in bundles), at, as_json)
    work: list[Task] = [(i, item, chosen[i]) for i, item in enumerate(inputs)]
    chunks = [work[i : i + CHUNK] for i in range(0, len(work), CHUNK)]
    counts = dict.fromkeys(_SEVERITY, 0)
    processes = max(1, min(jobs, len(chunks)))
    started = time.monotonic()
    with _progress(len(inputs)) as advance:
        for results in _map(job, chunks, processes):
            for _, status, line in results:
                sys.stdout.write(line + "\n")
                counts[status] += 1
            sys.stdout.flush()
            advance(len(results))
    _summary(counts, processes, time.monotonic() - started)
    return max((s for s, n in counts.items() if n), key=_SEVERITY.__getitem__, default=EXIT_OK)


def _summary(counts: dict[int, int], processes: int, seconds: float) -> None:
    """One line on standard error: how many quotes, how each ended, how fast."""
    from pydcap.cli.output import err

    total = sum(counts.values())
    rate = f", {total / seconds:,.0f} per second" if seconds > 0 else ""
    err.print(
        f"{total:,} quotes: {counts[EXIT_OK]:,} accepted, {counts[EXIT_REJECTED]:,} rejected, "
        f"{counts[EXIT_USAGE]:,} unreadable, {counts[EXIT_COLLATERAL_UNAVAILABLE]:,} without collateral "
        f"({processes} process{'es' if processes > 1 else ''}, {seconds:.1f} s{rate})"
    )


def _map(job: _Job, chunks: list[list[Task]], jobs: int) -> Iterator[list[tuple[int, int, str]]]:
    """The chunks' results in order: in this process for one job, else from a pool of ``jobs`` processes."""
    if jobs == 1:
        _start(job)
        yield from map(_verify_chunk, chunks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)  # no re-import where possible
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start, initargs=(job,)) as pool:
        yield from pool.map(_verify_chunk, chunks)


_SEVERITY = {EXIT_OK: 0, EXIT_REJECTED: 1, EXIT_USAGE: 2, EXIT_COLLATERAL_UNAVAILABLE: 3}  # the worst decides


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error when it is a terminal (a function to advance it); nothing otherwise."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import Progress

    from pydcap.cli.output import err

    # Lines go to standard output as they are: above the bar when both are this terminal, else to their file.
    with Progress(console=err, transient=True, redirect_stdout=sys.stdout.isatty(), redirect_stderr=False) as bar:
        task = bar.add_task("verifying", total=total)
        yield lambda n: bar.advance(task, n)
