"""Authenticity of collateral under a trust root: is this document genuine under this root, and not older than what
is held? No I/O and no clock of its own.

``admit(key, data, issuer_chain, trust, root_ca_crl=, pck_crl=, meta=, memo=)`` verifies one document (chains up
to the root pinned by key, CRLs, signatures, that it is the document asked for) and returns an ``Admission``:
until when it is fresh and its ``IssueOrder``; ``older(held, new)`` is the rollback check. Whatever is not
authentic raises ``Refused(failure, detail)`` with Intel's name for the check that failed. ``PkiMemo`` remembers
parsed certificates and signature checks (bounded, keyed by exact bytes) across admissions; ``BoundedCache`` is the
one bounded LRU map pydcap keeps things in.

The chain, CRL and signature checks themselves (``trust.chains``, ``trust.signatures``) are shared with the
verifier (``pydcap.verify``), which is built on them.

The cache, the PCCS and the providers decide trust through this package, never through the verifier's internals.
"""

from pydcap.pki import TrustRoot
from pydcap.trust.admission import Admission, IssueOrder, admit, older, pck_ca_of, pck_chain_leaf
from pydcap.trust.errors import Refused
from pydcap.trust.lru import BoundedCache
from pydcap.trust.memo import PkiMemo
from pydcap.trust.roots import require_root_key

__all__ = [
    "Admission",
    "BoundedCache",
    "IssueOrder",
    "PkiMemo",
    "Refused",
    "TrustRoot",
    "admit",
    "older",
    "pck_ca_of",
    "pck_chain_leaf",
    "require_root_key",
]
