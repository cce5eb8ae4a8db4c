"""The command line's error contract (``pydcap.cli.errors``): exit statuses 0-4, one line on stderr or, with
``--json``, ``{"error": ..., "exit_code": ...}`` on stdout, internal errors never reported as "rejected" nor as a
traceback, busy ports and bad flags as usage errors naming the flag, and ``--help`` that explains every flag."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydcap.cli import EXIT_INTERNAL, EXIT_UNAVAILABLE, EXIT_USAGE, build_parser, main
from pydcap.cli.errors import as_cli_error
from pydcap.errors import QuoteFormatError
from pydcap.sim import SimulatedIntel
from pydcap.sources.errors import UpstreamUnreachableError


def _boom(*_: object) -> None:
    raise RuntimeError("an unexpected\nfailure")


@pytest.fixture
def quote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A good quote whose ``quote show`` fails inside pydcap (a stand-in for any bug)."""
    path = tmp_path / "quote.bin"
    path.write_bytes(SimulatedIntel(0).sgx_platform().quote(b""))
    monkeypatch.setattr("pydcap.cli.quote.describe", _boom)
    monkeypatch.delenv("PYDCAP_DEBUG", raising=False)
    return str(path)


def test_an_internal_error_is_one_line_with_status_4(quote: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quote", "show", quote]) == EXIT_INTERNAL
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert error.startswith("pydcap: error: internal error: RuntimeError: an unexpected failure. This is a bug")
    assert "please report it" in error and "PYDCAP_DEBUG=1" in error


def test_an_internal_error_as_json(quote: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quote", "show", quote, "--json"]) == EXIT_INTERNAL
    shown = json.loads(capsys.readouterr().out)
    assert shown["exit_code"] == EXIT_INTERNAL and shown["error"].startswith("internal error: RuntimeError")


@pytest.mark.parametrize("how", ["env", "flag"])
def test_debugging_shows_the_traceback(
    how: str, quote: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "env":
        monkeypatch.setenv("PYDCAP_DEBUG", "1")
    assert main([*(["--debug"] if how == "flag" else []), "quote", "show", quote]) == EXIT_INTERNAL
    error = capsys.readouterr().err
    assert "Traceback" in error and "_boom" in error and "internal error: RuntimeError" in error


def test_pydcap_errors_that_escape_a_command_are_input_or_an_unavailable_service() -> None:
    assert as_cli_error(QuoteFormatError(3, "short")).status == EXIT_USAGE
    unreachable = UpstreamUnreachableError("TCB info", "https://pccs.test/tcb", None, "ConnectError", "check it")
    assert as_cli_error(unreachable).status == EXIT_UNAVAILABLE
    assert as_cli_error(KeyError("x")).status == EXIT_INTERNAL


def test_usage_errors_are_json_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--json"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"error": "the following arguments are required: QUOTE", "exit_code": 2}
    assert main(["verify", "q.bin", "--collateral", "c", "--at", "-5", "--json"]) == EXIT_USAGE
    assert json.loads(capsys.readouterr().out)["error"] == "QUOTE q.bin: cannot read it: No such file or directory"
    assert main(["verify", "--isvprodid", "x", "q.bin"]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert error.startswith("usage: pydcap verify") and "pydcap verify: error: argument --isvprodid" in error


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("command", [["pccs", "serve", "--insecure-http"], ["sim", "serve"]])
def test_a_busy_port_is_a_usage_error_naming_the_flag(
    command: list[str], busy_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--db", str(tmp_path / "db.sqlite3")] if command[0] == "pccs" else []
    assert main([*command, "--port", str(busy_port), *store]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert f"--port {busy_port}" in error and "in use" in error


def _parsers(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_flag_of_every_command_has_help_text() -> None:
    missing = [
        f"{name} {action.option_strings[0] if action.option_strings else action.dest}"
        for name, parser in _parsers(build_parser(None), "pydcap")
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


def test_verify_help_lists_the_exit_statuses() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "pydcap", "verify", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for line in (
        "0  accepted",
        "1  rejected",
        "2  usage or unreadable input",
        "3  collateral unavailable",
        "4  internal",
    ):
        assert line in shown
    assert '{"error": "...", "exit_code": N}' in shown


def test_every_command_is_listed_and_lives_in_its_module() -> None:
    """``pydcap --help`` lists ``COMMANDS`` without importing them; each must register itself."""
    import pkgutil

    import pydcap.cli

    registering = {
        m.name
        for m in pkgutil.iter_modules(pydcap.cli.__path__)
        if hasattr(__import__(f"pydcap.cli.{m.name}", fromlist=["x"]), "register")
    }
    assert registering == set(pydcap.cli.COMMANDS)
