"""``pydcap sim``: the simulated Intel from the command line: a PCS-compatible server, quotes, and collateral.

``pydcap sim quote`` and ``pydcap sim collateral`` with the same seed and scenario produce a matching pair that
``pydcap verify QUOTE --collateral DIR --root-ca DIR/root_ca.pem`` verifies offline.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pydcap.cli import EXIT_OK, CliError
from pydcap.cli.inputs import parse_time
from pydcap.cli.output import err, out, print_json
from pydcap.sim import DEFAULT_SEED, SCENARIOS, SEED_ENV, SimulatedIntel, default_seed
from pydcap.sim.platform import SimulatedSgxPlatform, SimulatedTdxPlatform
from pydcap.sim.scenarios import DEFAULT_SCENARIO, Scenario, for_tee

ROOT_CA_FILE = "root_ca.pem"
DEFAULT_SIM_URL = "http://127.0.0.1:8082"  # where 'pydcap sim serve' listens by default
ROOT_PEM_MAX_BYTES = 64 * 1024  # a served root certificate is read up to this size


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sim",
        description="A simulated Intel (test PKI, PCS API, SGX and TDX platforms). Never trusted by default.",
    )
    ssub = p.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)

    serve = ssub.add_parser("serve", help="run a PCS-compatible HTTP server until interrupted")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8082, help="0 picks a free port (default 8082, as 'sim env')")
    serve.add_argument("--api-key", metavar="KEY", help="require Ocp-Apim-Subscription-Key on pckcert(s)")
    _world_options(serve)
    serve.set_defaults(handler=run_serve)

    quote = ssub.add_parser("quote", help="write a quote from a simulated platform")
    _platform_options(quote)
    quote.add_argument("--version", type=int, choices=(3, 4, 5), help="quote version (default: 3 SGX, 4 TDX)")
    quote.add_argument("--report-data", metavar="HEX", default="", help="REPORTDATA (up to 64 bytes, hex)")
    quote.add_argument("-o", "--output", metavar="FILE", required=True, help="quote file ('-' for standard output)")
    quote.set_defaults(handler=run_quote)

    collateral = ssub.add_parser("collateral", help="write the matching collateral and the simulated root")
    _platform_options(collateral)
    collateral.add_argument("--update", choices=("standard", "early"), help="TCB info and identity update type")
    collateral.add_argument("-o", "--output", metavar="DIR", required=True, help="directory to write")
    collateral.set_defaults(handler=run_collateral)

    env = ssub.add_parser(
        "env",
        help="print the variables that point pydcap's bundled provider at a simulated Intel",
        description='Print export lines for sh (use: eval "$(pydcap sim env)"): the bundled provider then fetches '
        "from the simulated Intel at --url and trusts its root (written to a file), and the host API simulates a "
        "platform of the same seed.",
    )
    env.add_argument("--url", default=DEFAULT_SIM_URL, help=f"the simulated Intel (default {DEFAULT_SIM_URL})")
    env.add_argument(
        "--seed", type=int, help=f"its seed (default: ${SEED_ENV}, else {DEFAULT_SEED}), checked against the server"
    )
    env.set_defaults(handler=run_env, now=None)

    fleet = ssub.add_parser(
        "fleet", help="write the quotes of many simulated platforms (5 FMSPCs) and their collateral, for batches"
    )
    fleet.add_argument("--count", type=int, default=100, help="platforms (default 100)")
    fleet.add_argument("-o", "--output", metavar="DIR", required=True, help="directory to write")
    _world_options(fleet)
    fleet.set_defaults(handler=run_fleet)

    scenarios = ssub.add_parser("scenarios", help="list the scenarios and the verdict each implies")
    scenarios.add_argument("--tee", choices=("sgx", "tdx"), help="only scenarios for this TEE")
    scenarios.add_argument("--json", action="store_true", help="print one JSON object")
    scenarios.set_defaults(handler=run_scenarios)


def _world_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seed",
        type=int,
        help=f"the simulated world (default: ${SEED_ENV}, else {DEFAULT_SEED}; the host API and demo use the same)",
    )
    p.add_argument("--now", metavar="TIME", help="issue collateral at this time (default: today, 00:00 UTC)")


def _platform_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tee", choices=("sgx", "tdx"), default="sgx", help="the simulated platform's TEE (default sgx)")
    p.add_argument("--scenario", metavar="NAME", default=DEFAULT_SCENARIO, help="see 'pydcap sim scenarios'")
    _world_options(p)


def _intel(args: argparse.Namespace) -> SimulatedIntel:
    return SimulatedIntel(_intel_seed(args), now=parse_time(args.now, "--now"))


def _intel_seed(args: argparse.Namespace) -> int:
    """``--seed``, else the world's default seed (set into ``args.seed`` for the messages)."""
    if args.seed is None:
        try:
            args.seed = default_seed()
        except ValueError as exc:
            raise CliError(f"{exc} (give --seed N)") from exc
    return int(args.seed)


def _scenario(args: argparse.Namespace) -> Scenario:
    scenario = SCENARIOS.get(args.scenario)
    if scenario is None:
        raise CliError(f"--scenario {args.scenario}: no such scenario (see 'pydcap sim scenarios')")
    if not scenario.supports(args.tee):
        raise CliError(f"scenario {scenario.name!r} is for {'/'.join(scenario.tees)}, not {args.tee}")
    return scenario


def _platform(intel: SimulatedIntel, scenario: Scenario, tee: str) -> SimulatedSgxPlatform | SimulatedTdxPlatform:
    return intel.scenario_platform(scenario.name, tee)


def run_quote(args: argparse.Namespace) -> int:
    scenario = _scenario(args)
    platform = _platform(_intel(args), scenario, args.tee)
    try:
        report_data = bytes.fromhex(args.report_data)
        quote = platform.quote(report_data, version=args.version)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.output == "-":
        sys.stdout.buffer.write(quote)
        sys.stdout.buffer.flush()
        return EXIT_OK
    _write(Path(args.output), quote)
    version = args.version or platform.default_quote_version
    err.print(
        f"wrote the {args.tee.upper()} quote v{version} ({len(quote)} bytes) to {args.output}: scenario "
        f"{scenario.name!r}, seed {args.seed}; expect {scenario.expected.describe()}"
    )
    return EXIT_OK


def run_collateral(args: argparse.Namespace) -> int:
    scenario = _scenario(args)
    intel = _intel(args)
    platform = _platform(intel, scenario, args.tee)
    directory = Path(args.output)
    try:
        intel.collateral_for(platform, update=args.update).write_directory(directory)
        _write(directory / ROOT_CA_FILE, intel.root_pem)
    except OSError as exc:
        raise CliError(f"cannot write {directory}: {exc.strerror}") from exc
    err.print(
        f"wrote the {args.tee.upper()} collateral (scenario {args.scenario!r}, seed {args.seed}) and the simulated "
        f"root {ROOT_CA_FILE} to {directory}"
    )
    return EXIT_OK


def run_fleet(args: argparse.Namespace) -> int:
    """Each platform's first quote in DIR/quotes (a second one, re-attesting, in DIR/again), one collateral bundle
    per FMSPC in DIR/collateral, the root in DIR/root_ca.pem (see ``pydcap.sim.fleet``)."""
    from pydcap.sim.fleet import GROUPS, make_fleet, write_fleet

    if args.count < len(GROUPS):
        raise CliError(f"--count must be at least {len(GROUPS)}: one platform per FMSPC")
    seed = _intel_seed(args)
    directory = Path(args.output)
    try:
        write_fleet(make_fleet(args.count, seed=seed, now=parse_time(args.now)), directory)
    except OSError as exc:
        raise CliError(f"cannot write {directory}: {exc.strerror}") from exc
    err.print(
        f"wrote {args.count} simulated platforms over {len(GROUPS)} FMSPCs (seed {seed}) to {directory}; verify with\n"
        f"  pydcap verify {directory}/quotes --collateral {directory}/collateral --root-ca {directory}/{ROOT_CA_FILE}"
    )
    return EXIT_OK


def run_scenarios(args: argparse.Namespace) -> int:
    rows = list(SCENARIOS.values()) if args.tee is None else for_tee(args.tee)
    if args.json:
        print_json(
            {s.name: {"tees": list(s.tees), "summary": s.summary, "expected": s.expected.describe()} for s in rows}
        )
        return EXIT_OK
    for s in rows:
        out.print(f"{s.name:48} {'/'.join(s.tees):8} {s.expected.describe():40} {s.summary}")
    return EXIT_OK


def run_env(args: argparse.Namespace) -> int:
    import httpx

    from pydcap.sources.http import read_limited

    intel = _intel(args)
    url = args.url.rstrip("/")
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pydcap" / "sim" / f"root-{args.seed}.pem"
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        root.write_bytes(intel.root_pem)
    except OSError as exc:
        raise CliError(f"cannot write the simulated root to {root}: {exc.strerror}") from exc
    try:
        with httpx.stream("GET", f"{url}/_sim/root-ca.pem", timeout=2) as streamed:
            answer = read_limited(streamed, ROOT_PEM_MAX_BYTES)
    except httpx.HTTPError:
        err.print(f"[yellow]warning:[/] nothing answers at {url} yet: start it with 'pydcap sim serve'")
    else:
        if answer is None:
            raise CliError(f"--url {url}: its root certificate is over {ROOT_PEM_MAX_BYTES} bytes: no simulated Intel")
        if answer.content != intel.root_pem:
            raise CliError(f"the simulated Intel at {url} is not the one of seed {args.seed} (give its --seed)")
    exports = {
        "PYDCAP_COLLATERAL_SERVICE": "pcs",
        "PYDCAP_COLLATERAL_URL": url,
        "PYDCAP_TRUSTED_ROOT": str(root),
        SEED_ENV: str(args.seed),
    }
    for name, value in exports.items():
        out.print(f"export {name}={shlex.quote(value)}", markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK


def run_serve(args: argparse.Namespace) -> int:
    from pydcap.sim.server import SimulatedPcs

    intel = _intel(args)
    intel.register_scenario_platforms()  # PCS knows every platform 'pydcap sim quote' can quote from
    stop = threading.Event()
    try:
        pcs = SimulatedPcs(intel, host=args.host, port=args.port, api_key=args.api_key).start()
    except (OSError, RuntimeError) as exc:
        raise CliError(f"--port {args.port}: cannot serve on {args.host}:{args.port}: {exc}") from exc
    # SIGTERM ends serving like Ctrl-C; signal handlers can only be set from the main thread.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main_thread else None
    try:
        # The first line of standard output is the URL alone, for scripts.
        sys.stdout.write(pcs.url + "\n")
        sys.stdout.flush()
        err.print(
            f"simulated Intel PCS (seed {args.seed}) at {pcs.url}: PCS API under /sgx/certification/v4/ and "
            f"/tdx/certification/v4/, root CA at {pcs.url}/_sim/root-ca.pem, counters at {pcs.url}/_sim/stats. "
            "Ctrl-C stops."
        )
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        pcs.stop()
    return EXIT_OK


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from exc
