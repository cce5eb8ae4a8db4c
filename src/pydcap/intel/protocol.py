"""Intel's provisioning certification HTTP API (PCS and PCCS, v3 and v4), spelled once: paths, parameters, header
names and encodings. Clients (``pydcap.sources``), servers (``pydcap.pccs``, the simulated PCS) and the QCNL
provider build their requests and answers from these names.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from pydcap.intel.documents import PckCa, Tee, Update
from pydcap.intel.platform import PlatformId

API_VERSIONS = (3, 4)
_API_SUFFIX = re.compile(r"/(?:sgx|tdx)/certification/v(\d+)/?$")

# Endpoints, under /{sgx,tdx}/certification/v{3,4}/
ROOT_CA_CRL = "rootcacrl"
PCK_CRL = "pckcrl"
TCB_INFO = "tcb"
QE_IDENTITY = "qe/identity"
QVE_IDENTITY = "qve/identity"
PCK_CERTIFICATE = "pckcert"
PCK_CERTIFICATES = "pckcerts"
FMSPCS = "fmspcs"
TCB_EVALUATION_DATA_NUMBERS = "tcbevaluationdatanumbers"
# ... and the PCCS's own, under /sgx/certification/v{3,4}/
CRL = "crl"  # a CRL by its distribution point (?uri=)
PLATFORMS = "platforms"
PLATFORM_COLLATERAL = "platformcollateral"
REFRESH = "refresh"

# Response headers
REQUEST_ID = "Request-ID"
PCK_CRL_ISSUER_CHAIN = "SGX-PCK-CRL-Issuer-Chain"
TCB_INFO_ISSUER_CHAIN = "TCB-Info-Issuer-Chain"  # v4 (SGX and TDX)
SGX_TCB_INFO_ISSUER_CHAIN = "SGX-TCB-Info-Issuer-Chain"  # v3
ENCLAVE_IDENTITY_ISSUER_CHAIN = "SGX-Enclave-Identity-Issuer-Chain"
QE_IDENTITY_ISSUER_CHAIN = "SGX-QE-Identity-Issuer-Chain"  # the name of older services
PCK_CERTIFICATE_ISSUER_CHAIN = "SGX-PCK-Certificate-Issuer-Chain"
TCB_EVALUATION_DATA_NUMBERS_ISSUER_CHAIN = "TCB-Evaluation-Data-Numbers-Issuer-Chain"
TCBM = "SGX-TCBm"
FMSPC = "SGX-FMSPC"
PCK_CERTIFICATE_CA_TYPE = "SGX-PCK-Certificate-CA-Type"

# Request headers
SUBSCRIPTION_KEY = "Ocp-Apim-Subscription-Key"  # Intel PCS's API key

# The headers an issuer chain may come in, the usual one first (services differ between API versions).
PCK_CRL_CHAIN_HEADERS = (PCK_CRL_ISSUER_CHAIN,)
TCB_INFO_CHAIN_HEADERS_V4 = (TCB_INFO_ISSUER_CHAIN, SGX_TCB_INFO_ISSUER_CHAIN)
TCB_INFO_CHAIN_HEADERS_V3 = (SGX_TCB_INFO_ISSUER_CHAIN, TCB_INFO_ISSUER_CHAIN)
IDENTITY_CHAIN_HEADERS = (ENCLAVE_IDENTITY_ISSUER_CHAIN, QE_IDENTITY_ISSUER_CHAIN)
PCK_CERTIFICATE_CHAIN_HEADERS = (PCK_CERTIFICATE_ISSUER_CHAIN,)

# encodeURIComponent's unreserved characters: Intel's services encode issuer chains exactly so.
_URI_COMPONENT_SAFE = "-_.!~*'()"


def api_path(tee: Tee, version: int, endpoint: str) -> str:
    """``/sgx/certification/v4/pckcrl``: an endpoint's path (TDX collateral exists only in API v4)."""
    return f"/{tee.value}/certification/v{4 if tee is Tee.TDX else version}/{endpoint}"


def split_api_url(url: str) -> tuple[str, int | None]:
    """``https://host/sgx/certification/v4/`` -> (``https://host``, 4); a bare root gives (root, None)."""
    text = url.strip().rstrip("/")
    match = _API_SUFFIX.search(text + "/")
    if match:
        return text[: match.start()], int(match.group(1))
    return text, None


def update_param(update: Update) -> dict[str, str]:
    """The ``update`` parameter: said only when it is not "standard" (every service's default), which keeps the
    URLs Intel's own clients send (and what strict servers accept)."""
    return {} if update is Update.STANDARD else {"update": update.value}


def pck_crl_params(ca: PckCa) -> dict[str, str]:
    return {"ca": ca.value, "encoding": "der"}


def pckcert_params(platform: PlatformId, *, with_qe_id: bool) -> dict[str, str]:
    """``pckcert`` parameters: a caching service's order (``qeid`` first, ``encrypted_ppid`` last, when
    known) or Intel PCS's (``encrypted_ppid`` first; ``qeid`` only when there is no encrypted PPID)."""
    ppid = platform.encrypted_ppid.hex() if platform.encrypted_ppid is not None else None
    params: dict[str, str] = {}
    if not with_qe_id and ppid is not None:
        params["encrypted_ppid"] = ppid
    else:
        params["qeid"] = platform.qe_id.hex()
    params["cpusvn"] = platform.cpu_svn.hex()
    params["pcesvn"] = platform.pce_svn_hex
    params["pceid"] = platform.pce_id_hex
    if with_qe_id and ppid is not None:
        params["encrypted_ppid"] = ppid
    return params


def url_encoded(pem: bytes) -> str:
    """A PEM chain as a header value: ``encodeURIComponent`` of the text, as Intel's PCS and PCCS send it."""
    return quote(pem.decode("ascii"), safe=_URI_COMPONENT_SAFE)


def url_decoded(value: str) -> bytes:
    """A header's URL-encoded PEM chain, as PEM bytes."""
    return unquote(value).encode()
