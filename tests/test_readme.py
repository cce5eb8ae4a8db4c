"""Every command line of README.md runs as written: the fenced ``sh`` blocks and ``python`` blocks, in order, in a
clean shell (no inherited environment, a fresh home) in a temporary copy of the project, each line (each Python
block) checked for its exit status.

The tags README.md documents ("Running the commands of this page") say what the test does with a line:
``# [needs WHAT]`` and ``# [slow]`` lines are not run; ``# [background]`` lines are servers, started in the
background, waited for on their ``--port`` (a free port replaces that number everywhere in the script) and
stopped at the end; ``# [exit N]`` lines must exit with N; every other line must exit 0.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TAG = re.compile(r"#\s*\[(?P<tag>[^\]]*)\]")
KNOWN = re.compile(r"needs .+|slow|background|exit \d+")
PORT = re.compile(r"--port (\d+)\b")
LIMIT = 150  # seconds for the whole page (it takes about 15)


@dataclass(frozen=True)
class Line:
    number: int  # of its first line in README.md
    command: str  # continuation lines joined
    tag: str  # "" for none

    @property
    def runs(self) -> bool:
        return not (self.tag.startswith("needs ") or self.tag == "slow")

    @property
    def expected(self) -> int:
        return int(self.tag.split()[1]) if self.tag.startswith("exit ") else 0


def sh_lines(text: str) -> list[Line]:
    """The command lines of the fenced ``sh`` blocks (blank and comment-only lines left out), and each fenced
    ``python`` block as one ``python`` command (tagged by a comment on its first line)."""
    lines: list[Line] = []
    inside, pending, start = "", "", 0
    block: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            if inside == "python":
                tag = TAG.search(block[0]) if block and block[0].startswith("#") else None
                code = "\n".join(block)
                lines.append(
                    Line(start, f"python - <<'PYTHON'\n{code}\nPYTHON", tag.group("tag").strip() if tag else "")
                )
            inside = "" if inside else stripped[3:].strip()
            start, block = number + 1, []
            continue
        if inside == "python":
            block.append(raw)
            continue
        if inside != "sh" or (not pending and (not stripped or stripped.startswith("#"))):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        command, pending = pending + stripped, ""
        tag = TAG.search(command)
        lines.append(Line(start, command, tag.group("tag").strip() if tag else ""))
    return lines


LINES = sh_lines(README.read_text())


def test_the_tags_are_the_documented_ones() -> None:
    unknown = [f"README.md:{line.number}: [{line.tag}]" for line in LINES if line.tag and not KNOWN.fullmatch(line.tag)]
    assert unknown == [], "tags are [needs WHAT], [slow], [background] or [exit N]"
    portless = [
        f"README.md:{line.number}" for line in LINES if line.tag == "background" and not PORT.search(line.command)
    ]
    assert portless == [], "a [background] server names its --port, which the test waits for"
    assert "Running the commands of this page" in README.read_text(), "README.md documents the tags"


def test_pydcap_is_put_on_path_before_the_first_pydcap_line() -> None:
    commands = [line.command for line in LINES]
    first = next(i for i, c in enumerate(commands) if re.match(r"pydcap\b", c))
    assert any(c.startswith(". .venv/bin/activate") for c in commands[:first])


def _copy_project(target: Path) -> None:
    """The project's files (tracked, or new and not ignored), times kept; ``.venv`` stands for this interpreter's
    environment, already set up (``make`` finds it installed); ``../shared`` beside it, as in a clone."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout.decode().split("\0")  # fmt: skip
        files = [ROOT / name for name in listed if name and (ROOT / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
        files = [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    project = target / "pydcap"
    for source in files:
        destination = project / source.relative_to(ROOT)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    venv = project / ".venv"
    venv.mkdir()
    (venv / "bin").symlink_to(Path(sys.prefix) / "bin")
    (venv / ".installed").touch()
    if (ROOT.parent / "shared").is_dir():
        (target / "shared").symlink_to(ROOT.parent / "shared")


def script(lines: list[Line]) -> str:
    """The bash script that runs ``lines`` and checks each one's exit status."""
    parts = [
        "__servers=()",
        'trap \'for p in "${__servers[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait\' EXIT',
        "__wait_port() {  # port, README line: until something listens there (30 s)",
        "  for __i in $(seq 300); do (: > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done",
        '  echo "README.md:$2: nothing listens on port $1 after 30 s; its output:" >&2; cat "__server-$2.log" >&2',
        "  return 1",
        "}",
    ]
    for line in lines:
        where = f"README.md:{line.number}"
        if not line.runs:
            parts.append(f"echo {shlex.quote(f'{where}: not run [{line.tag}]')}")
        elif line.tag == "background":
            command = line.command[: TAG.search(line.command).start()]  # type: ignore[union-attr]
            port = PORT.search(command).group(1)  # type: ignore[union-attr]
            parts += [
                f"echo {shlex.quote(f'{where}: {command.strip()} (in the background)')}",
                f"{command} > __server-{line.number}.log 2>&1 &",
                "__servers+=($!)",
                f"__wait_port {port} {line.number} || exit 1",
            ]
        else:
            message = f"{where}: exit status $__rc, expected {line.expected}: {line.command}"
            parts += [
                f"echo {shlex.quote(f'{where}: {line.command}')}",
                line.command,
                "__rc=$?",
                f'if [ "$__rc" -ne {line.expected} ]; then echo "{_dq(message)}" >&2; exit 1; fi',
            ]
    return "\n".join(parts) + "\n"


def _dq(text: str) -> str:
    """``text`` inside double quotes, ``$__rc`` still expanded."""
    return re.sub(r'(["`\\]|\$(?!__rc))', r"\\\1", text)


def with_free_ports(lines: list[Line]) -> list[Line]:
    """Each background server's port replaced by a free one, wherever a line names it."""
    ports = {
        m.group(1): str(free_port()) for line in lines if line.tag == "background" and (m := PORT.search(line.command))
    }
    if not ports:
        return lines
    number = re.compile(rf"(?<=--port )({'|'.join(ports)})\b|(?<=:)({'|'.join(ports)})\b")
    return [Line(line.number, number.sub(lambda m: ports[m.group(0)], line.command), line.tag) for line in lines]


def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    _copy_project(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        **{name: os.environ[name] for name in ("CI", "PYDCAP_TESTDATA") if name in os.environ},
    }
    process = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-c", script(with_free_ports(LINES))],
        cwd=tmp_path / "pydcap",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        running = re.findall(r"^README\.md:\d+", output, re.M)[-1:]
        pytest.fail(f"{running} did not end within {LIMIT} s (a server? tag it [background]):\n{output[-3000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything the script left behind
        process.wait()
    assert process.returncode == 0, output[-6000:]
    ran = [line for line in LINES if line.runs]
    assert len(ran) >= 10 and all(f"README.md:{line.number}:" in output for line in LINES)


def test_every_pydcap_variable_the_source_reads_is_in_the_table() -> None:
    """The README's one table of ``PYDCAP_*`` variables names every one in src/ and benchmarks/."""
    text = README.read_text()
    table = text[text.index("## Environment variables") :]
    table = table[: table.index("\n## ")]
    documented = set(re.findall(r"PYDCAP_[A-Z0-9_]+", table))
    families = {name for name in documented if name.endswith("_")}  # `PYDCAP_PCCS_<KEY>`
    sources = [*(ROOT / "src").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]
    read = {name for path in sources for name in re.findall(r"(?<![A-Za-z0-9_])PYDCAP_[A-Z0-9_]+", path.read_text())}
    missing = sorted(
        name
        for name in read
        if name not in documented
        and not any(name.startswith(f) for f in families)
        and not (name.endswith("_") and any(d.startswith(name) for d in documented))
    )
    assert missing == [], "add them to the table under '## Environment variables' in README.md"
