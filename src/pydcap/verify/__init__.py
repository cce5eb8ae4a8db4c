"""Quote verification as Intel's verifier does it: chains, CRLs, signed collateral, QE, TCB levels."""

from pydcap.verify.names import Failure, QvResult, TcbStatus
from pydcap.verify.quote3 import Quote3Error
from pydcap.verify.result import Supplemental, VerificationResult
from pydcap.verify.verifier import Verifier, verify_quote

__all__ = [
    "Failure",
    "Quote3Error",
    "QvResult",
    "Supplemental",
    "TcbStatus",
    "VerificationResult",
    "Verifier",
    "verify_quote",
]
