"""Run one fuzz target under atheris (libFuzzer): ``python -m fuzz.run TARGET [CORPUS_DIR] [-max_total_time=N ...]``.

The corpus directory (default ``fuzz/corpus/TARGET``, not kept in git) is seeded from the real bundles first;
crashes are written to ``fuzz/crashes/`` (or ``-artifact_prefix``). Fuzz-found inputs worth keeping go into
``fuzz/regressions/TARGET/``, which ``tests/test_fuzz.py`` replays on every test run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1].startswith("-"):
        sys.exit("usage: python -m fuzz.run TARGET [CORPUS_DIR] [libFuzzer flags]")
    name, rest = argv[1], argv[2:]
    with atheris.instrument_imports(include=["pydcap"]):
        from fuzz.seeds import write_seeds
        from fuzz.targets import TARGETS
    if name not in TARGETS:
        sys.exit(f"no fuzz target {name!r}; the targets: {', '.join(TARGETS)}")
    corpus = [a for a in rest if not a.startswith("-")]
    if not corpus:
        corpus = [str(HERE / "corpus" / name)]
        rest = [*corpus, *rest]
    write_seeds(name, Path(corpus[0]))
    if not any(a.startswith("-artifact_prefix=") for a in rest):
        (HERE / "crashes").mkdir(exist_ok=True)
        rest.append(f"-artifact_prefix={HERE / 'crashes'}/{name}-")
    atheris.Setup([argv[0], *rest], TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
