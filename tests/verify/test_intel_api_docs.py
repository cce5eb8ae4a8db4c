"""docs/intel-api.md is generated from the code's own tables (Intel's API codes, the pre-flight steps, the
simulated Intel's combined-defect scenarios), so it cannot drift: this test renders it and compares.

To regenerate after changing a table: ``PYDCAP_WRITE_DOCS=1 .venv/bin/python -m pytest tests/verify/test_intel_api_docs.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydcap.intel.outcomes import QV_RESULT_OF_STATUS
from pydcap.intel.quote3 import NON_TERMINAL, QUOTE3_ERROR_OF_FAILURE, PreflightStep, Quote3Error
from pydcap.sim import SCENARIOS
from pydcap.sim.combined_scenarios import INTEL_STAGES, NOT_FAILING, combined_scenarios
from pydcap.verify import Failure, TcbStatus

DOC = Path(__file__).resolve().parents[2] / "docs" / "intel-api.md"

_HEAD = """\
# Intel's API answer, side by side

<!-- Generated from src/pydcap/intel/quote3.py and src/pydcap/sim/combined_scenarios.py by
     tests/verify/test_intel_api_docs.py: edit those, then run it with PYDCAP_WRITE_DOCS=1. -->

Users of Intel's stack call `tee_verify_quote` (or `sgx_qv_verify_quote` / `tdx_qv_verify_quote`) and get a
`quote3_error_t` and a `sgx_ql_qv_result_t`. Both come from one function of Intel's verification enclave,
`sgx_qve_verify_quote` (intel/confidential-computing.tee.dcap, `ae/QvE/qve/qve.cpp`), which runs inside the
QvE or untrusted. pydcap's `VerificationResult` gives the same two answers (`quote3_error`, and `qv_result`
without the `SGX_QL_QV_RESULT_` prefix) and keeps the finer name of the QVL status (`failure`), that of the
defect Intel's code meets first. On every failure Intel's result is `UNSPECIFIED`.

## The order in which Intel meets a defect

A verification time of 0 or less is refused before anything else (`INVALID_PARAMETER`,
`SGX_QL_ERROR_INVALID_PARAMETER`). Then Intel's pre-flight, each step failing with a code of its own, whatever
the QVL status of the defect:

| step | what must hold | `quote3_error` | `qv_result` | `failure` (QVL status) |
|---|---|---|---|---|
"""

_CALLS = """
Then the QVL's four calls, in this order: the PCK chain and CRLs (`sgxAttestationVerifyPCKCertificate`), the
TCB info and its signing chain (`sgxAttestationVerifyTCBInfo`), the QE identity and its signing chain
(`sgxAttestationVerifyEnclaveIdentity`), the quote and its TCB level (`sgxAttestationVerifyQuoteEx`). A status
from these becomes the code in the table below (qve.cpp `status_error_to_quote3_error`; a status it does not
list is `SGX_QL_ERROR_UNEXPECTED`). Expiry met in the first three only sets the expiration flag
(`collateral_expired`).

## Every QVL status pydcap reports, and Intel's answer for it

| `failure` (QVL status) | `quote3_error` (from the four calls) | code | `qv_result` |
|---|---|---|---|
"""

_SUCCESS = """
## Success

Intel returns `SGX_QL_SUCCESS` (0x0000) and the result of the TCB status; pydcap's `failure` is null.

`collateral_expired` departs from Intel's API deliberately: pydcap sets it when any part of the collateral has
expired at the verification time (CRLs, certificates, TCB info, QE identity: the supplemental data's earliest
expiration date, or a CRL not yet valid), and the default policy rejects such a quote. Intel's API
(qve.cpp after `sgxAttestationVerifyQuoteEx`) overwrites its flag with the expiry of the TCB info and the QE
identity alone, so an expired CRL or PCK certificate is not flagged there.

| `tcb_status` | `quote3_error` | `qv_result` |
|---|---|---|
"""

_NON_TERMINAL = """
## QVL statuses that are not failures in Intel's API

The bare QVL calls return these; Intel's verification enclave treats them as non-terminal (qve_logic.h
`is_nonterminal_error`): expiry sets `collateral_expired` beside the status, and the out-of-date ones are TCB
statuses. pydcap never reports them as `failure`.

| QVL status | code of Intel's table, never returned |
|---|---|
"""

_COMBINED = """
## Several defects: which one Intel names

Scenarios of the simulated Intel (`pydcap.sim`) with two defects each, and the answer read from Intel's code:
the defect met first in the order above is named. Each runs on SGX and TDX (`tests/sim/test_scenarios.py`).

| scenario | defects | `failure` | `quote3_error` | why |
|---|---|---|---|---|
"""

_STAGES = """
Beyond these, any two single-defect scenarios combine (`pydcap.sim.combined_scenarios.pair`) unless they
replace the same part of the quote or collateral or sit at the same stage of Intel's order; the answer is the
defect of the earlier stage. `tests/sim/test_combined_scenarios.py` checks random pairs (all of them, about
2,600 cases, with `PYDCAP_ALL_PAIRS=1`). The stages, in Intel's order:

| stage | single-defect scenarios |
|---|---|
"""


def _code(error: Quote3Error) -> str:
    return f"`{error.value}` (0x{error.code:04X})"


def render() -> str:
    lines = [_HEAD.rstrip("\n")]
    for number, step in enumerate(PreflightStep, 1):
        names = ", ".join(f"`{f.value}`" for f in step.failures)
        lines.append(f"| {number} | {step.what} | {_code(step.quote3_error)} | `UNSPECIFIED` | {names} |")
    lines.append(_CALLS.rstrip("\n"))
    for failure in Failure:
        if failure in NON_TERMINAL:
            continue
        error = QUOTE3_ERROR_OF_FAILURE[failure]
        lines.append(f"| `{failure.value}` | `{error.value}` | 0x{error.code:04X} | `UNSPECIFIED` |")
    lines.append(_SUCCESS.rstrip("\n"))
    for status in TcbStatus:
        if status != TcbStatus.REVOKED:
            lines.append(f"| `{status.value}` | `SGX_QL_SUCCESS` | `{QV_RESULT_OF_STATUS[status].value}` |")
    lines.append(
        "\nA matched TCB level that is `Revoked` is a failure: `TCB_REVOKED`, `SGX_QL_TCB_REVOKED`, `UNSPECIFIED`."
    )
    lines.append(_NON_TERMINAL.rstrip("\n"))
    for failure in sorted(NON_TERMINAL, key=list(Failure).index):
        lines.append(f"| `{failure.value}` | `{QUOTE3_ERROR_OF_FAILURE[failure].value}` |")
    lines.append(_COMBINED.rstrip("\n"))
    for scenario in combined_scenarios():
        defects = ", ".join(scenario.defect_names)
        expected = scenario.expected
        assert expected.failure is not None
        lines.append(
            f"| `{scenario.name}` | {defects} | `{expected.failure.value}` | `{expected.quote3_error.value}` "
            f"| {scenario.summary} |"
        )
    lines.append(_STAGES.rstrip("\n"))
    for number, names in enumerate(INTEL_STAGES, 1):
        lines.append(f"| {number} | {', '.join(f'`{name}`' for name in names)} |")
    lines.append(f"| no failure | {', '.join(f'`{name}`' for name in NOT_FAILING)} |")
    return "\n".join(lines) + "\n"


def test_docs_are_generated_from_the_tables() -> None:
    text = render()
    if os.environ.get("PYDCAP_WRITE_DOCS"):
        DOC.write_text(text, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == text, (
        "docs/intel-api.md is out of date: regenerate it with PYDCAP_WRITE_DOCS=1 (see this module's docstring)"
    )


def test_every_preflight_code_in_the_scenarios_comes_from_a_listed_step() -> None:
    """A scenario whose code is not the table's for its failure met the defect in a pre-flight step that
    lists that failure, with that step's code."""
    for scenario in SCENARIOS.values():
        failure, error = scenario.expected.failure, scenario.expected.quote3_error
        if failure is None or error == QUOTE3_ERROR_OF_FAILURE[failure]:
            continue
        assert any(failure in step.failures and step.quote3_error == error for step in PreflightStep), scenario.name
