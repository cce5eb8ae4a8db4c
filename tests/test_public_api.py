"""The public surface, pinned: ``pydcap`` and each package docs/architecture.md documents export exactly the names
below (a name that moved to a new home is re-exported from the old one, as the very same object), and each name
resolves. Adding a name to a package's ``__all__`` means adding it here; taking one away breaks users."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

# Each package's __all__, exactly. Every name held before the ground-floor packages (pydcap.intel, pydcap.trust,
# pydcap.results) were drawn is still here.
PUBLIC: dict[str, set[str]] = {
    "pydcap": {
        "AllOf", "AnyOf", "AsyncCollateralService", "AzureClient", "CertificateFormatError", "Collateral",
        "CollateralCache", "CollateralError", "CollateralFormatError", "CollateralService", "CollateralStore",
        "CollateralUnavailableError", "EnclaveIdentity", "Failure", "FormatError", "PccsClient", "PckCertificate",
        "PcsClient", "Policy", "PydcapError", "Quote", "Quote3Error", "QuoteFormatError", "QvResult", "Supplemental",
        "TcbInfo", "TcbStatus", "TokenVerifier", "TrustRoot", "UnsafeAcceptAnyStatus", "UntrustedCollateralError",
        "VerificationResult", "Verifier", "__version__", "verify_quote", "verify_token",
    },
    "pydcap.quote": {
        "CertificationData", "EnclaveReport", "EncryptedPpid", "Quote", "QuoteHeader", "TdReport10", "TdReport15",
        "TdReport15Ex", "TeeType",
    },
    "pydcap.pki": {
        "Certificate", "CertificateChain", "INTEL_SGX_ROOT_CA_PUBLIC_KEY", "PckCertificate", "PckTcb",
        "RevocationList", "SgxExtension", "SgxType", "TrustRoot",
    },
    "pydcap.collateral": {
        "Collateral", "EnclaveIdentity", "IdentityTcbLevel", "ModuleTcbLevel", "SignedDocument", "TcbInfo",
        "TcbLevel", "TdxModule", "TdxModuleIdentity",
    },
    "pydcap.verify": {
        "Failure", "Quote3Error", "QvResult", "Supplemental", "TcbStatus", "VerificationResult", "Verifier",
        "verify_quote",
    },
    "pydcap.policy": {
        "AllOf", "AnyOf", "AppraisalPolicy", "EnclaveConstraint", "Policy", "SecurityLevel", "UnsafeAcceptAnyStatus",
        "security_level",
    },
    "pydcap.sources": {
        "AZURE_GLOBAL_CACHE_URL", "AzureClient", "CertificatesUnavailableError", "CollateralError",
        "CollateralNotFoundError", "CollateralRequest", "CollateralSource", "CollateralUnavailableError", "Fetched",
        "FetchedPckCertificates", "HttpSettings", "INTEL_PCS_URL", "MalformedResponseError", "PccsClient", "PckCa",
        "PckCertificateOption", "PcsClient", "PlatformId", "PlatformRequestError", "PlatformUnknownError",
        "RateLimitedError", "RequestBudget", "RetryPolicy", "Tee", "ThrottledError", "TlsVerificationError", "Update",
        "UpstreamError", "UpstreamRejectedError", "UpstreamServerError", "UpstreamUnreachableError",
        "fetch_collateral", "fetch_collateral_sync",
    },
    "pydcap.cache": {
        "Admission", "AsyncCollateralService", "CacheStats", "CollateralCache", "CollateralService",
        "CollateralStore", "Entry", "EntryKey", "EntryKind", "FetchedCollateral", "InvalidKeyError",
        "MachineCertificate", "NotCachedError", "OutdatedCollateralError", "StoreError", "StoreSummary",
        "UntrustedCollateralError", "WaitTimeoutError", "admit", "default_store_limit", "default_store_path",
    },
    "pydcap.provider": {
        "AzureConfig", "AzureProvider", "BundledConfig", "BundledProvider", "CaType", "CacheKind", "CertsUnavailable",
        "CollateralNotFound", "InvalidParameter", "LogCallback", "LogLevel", "MalformedResponse", "NativeProvider",
        "NoPlatformCertData", "OperationNotSupported", "PckCertChain", "PlatformId", "PlatformUnknown",
        "PluginCandidate", "PluginLoadError", "ProviderChoice", "ProviderConfigError", "ProviderError",
        "ProviderNetworkError", "ProviderSelectionError", "QcnlConfig", "QcnlProvider", "QuoteProvider",
        "QveIdentity", "RootCaUntrusted", "SEARCH_PATHS", "ServiceUnavailable", "TRUSTED_ROOT_ENV",
        "UnexpectedProviderError", "UnsupportedCollateralVersion", "UntrustedCollateral", "UntrustedRootWarning",
        "load_qcnl_config", "open_provider", "parse_qcnl_config", "select_provider",
    },
    "pydcap.provider.qcnl": {"QcnlConfig", "QcnlProvider", "load_qcnl_config", "parse_qcnl_config"},
    "pydcap.provider.azure": {"AzureConfig", "AzureProvider"},
    "pydcap.provider.native": {"NativeProvider"},
    "pydcap.doctor": {
        "DoctorReport", "MachineFacts", "ProviderOverview", "ProviderSummary", "ServiceProbe", "examine",
        "inspect_machine", "probe_service", "survey",
    },
    "pydcap.platform": {
        "ConfigfsTsmQuoteSource", "Detection", "GramineQuoteSource", "PlatformError", "QuoteSource", "detect",
    },
    "pydcap.pccs": {
        "CachingMode", "ConfigError", "ImportSummary", "PccsApp", "PccsConfig", "PccsError", "PccsServer",
        "PccsService", "RefreshSchedule", "Tcb", "build_app", "export_collateral", "import_collateral",
        "intel_select", "load_config", "select_certificate", "serve",
    },
    "pydcap.serving": {
        "GuardedHttpProtocol", "Metrics", "NOSNIFF", "RequestBodyError", "STORE_RETRY_AFTER", "ServerConfig",
        "ServerLimits", "ThreadedServer", "TlsFiles", "WorkerSnapshots", "ensure_tls_files", "parse_json",
        "read_body", "retry_after", "run", "run_workers", "self_signed", "serve_workers", "tcp_socket", "token_hash",
        "token_matches", "uvicorn_options",
    },
    "pydcap.attest": {
        "AttestApp", "AttestConfig", "AttestError", "AttestServer", "AttestService", "AttestationPolicy",
        "AttestationType", "ConfigError", "IssuerError", "IssuerUnreachableError", "TokenError", "TokenVerifier",
        "load_config", "open_enclave_report", "serve", "verify_token",
    },
    "pydcap.sim": {
        "Catalog", "CollateralDefect", "DEFAULT_SEED", "EnclaveIdentitySpec", "Expectation", "FmspcEntry", "FmspcTcb",
        "IdentityLevelSpec", "PlatformId", "QuoteDefect", "REFERENCE_TIME", "Revocation", "SCENARIOS", "SEED_ENV",
        "Scenario", "SimulatedIntel", "SimulatedPlatform", "SimulatedSgxPlatform", "SimulatedSource",
        "SimulatedTdxPlatform", "TcbLevelSpec", "default_seed",
    },
    "pydcap.sim.server": {"FaultInjector", "RequestStats", "SimulatedPcs", "build_app"},
    "pydcap.intel": {
        "QV_RESULT_OF_STATUS", "Clock", "EntryKey", "EntryKind", "Failure", "Incomparable", "InvalidKeyError",
        "PckCa", "PlatformId", "PlatformRequestError", "PreflightStep", "Quote3Error", "QvResult", "Tcb",
        "TcbFormatError", "TcbStatus", "Tee", "TimeLike", "Update", "iso", "to_unix",
    },
    "pydcap.trust": {
        "Admission", "BoundedCache", "IssueOrder", "PkiMemo", "Refused", "TrustRoot", "admit", "older", "pck_ca_of",
        "pck_chain_leaf", "require_root_key",
    },
}  # fmt: skip

# One home per concept: these names, wherever else they are exported, are the same object as in their home.
HOMES: dict[str, str] = {
    "Failure": "pydcap.intel",
    "QvResult": "pydcap.intel",
    "TcbStatus": "pydcap.intel",
    "Quote3Error": "pydcap.intel",
    "PlatformId": "pydcap.intel",
    "PlatformRequestError": "pydcap.intel",
    "Tcb": "pydcap.intel",
    "Tee": "pydcap.intel",
    "PckCa": "pydcap.intel",
    "Update": "pydcap.intel",
    "EntryKey": "pydcap.intel",
    "EntryKind": "pydcap.intel",
    "InvalidKeyError": "pydcap.intel",
    "VerificationResult": "pydcap.results",
    "Supplemental": "pydcap.results",
    "TrustRoot": "pydcap.pki",
    "CollateralError": "pydcap.errors",
    "CollateralUnavailableError": "pydcap.errors",
    "UntrustedCollateralError": "pydcap.cache",
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_each_package_exports_exactly_its_pinned_names(package: str) -> None:
    module = importlib.import_module(package)
    exported = set(module.__all__)
    assert len(exported) == len(module.__all__), f"{package}.__all__ names something twice"
    missing, added = sorted(PUBLIC[package] - exported), sorted(exported - PUBLIC[package])
    assert not missing, f"{package}.__all__ lost {missing}"
    assert not added, f"{package}.__all__ has {added}: pin them in tests/test_public_api.py"
    for name in sorted(exported):
        assert hasattr(module, name), f"{package}.__all__ names {name}, which {package} does not have"


def test_every_documented_package_is_pinned() -> None:
    """The packages of docs/architecture.md's map (``name/`` at the start of a line of its first code block) and
    the packages pinned here are the same, but for the command line, whose interface is its commands."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text()
    block = text.split("```")[1]
    documented = {
        f"pydcap.{m.group(1).replace('/', '.')}" for m in re.finditer(r"^([a-z_]+(?:/[a-z_]+)*)/ ", block, re.M)
    }
    pinned = {p for p in PUBLIC if p != "pydcap"}
    assert documented - {"pydcap.cli"} == pinned


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_a_concept_exported_in_several_places_is_one_object(package: str) -> None:
    module = importlib.import_module(package)
    for name in sorted(set(module.__all__) & set(HOMES)):
        home = importlib.import_module(HOMES[name])
        assert getattr(module, name) is getattr(home, name), f"{package}.{name} is not {HOMES[name]}.{name}"
