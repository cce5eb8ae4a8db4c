"""``SimulatedIntel``: one deterministic simulated world of Intel's attestation services.

It owns the PKI, the TCB catalog, the CRLs (and what they revoke), the published documents and the platforms
it certified. Everything derives from the seed; documents and CRLs are issued at ``now`` (default: the start
of the current UTC day) and stay valid for 30 days; certificates are valid until 2049.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar

from pydcap.collateral.bundle import Collateral
from pydcap.errors import FormatError
from pydcap.intel.time import TimeLike, to_unix
from pydcap.pki.certs import Certificate, CertificateChain
from pydcap.pki.pck import PckCertificate, SgxType
from pydcap.pki.trust import TrustRoot
from pydcap.quote.parser import Quote
from pydcap.sim import catalog as cat
from pydcap.sim import platform_factory as factory
from pydcap.sim import scenarios as sc
from pydcap.sim.collateral import CollateralTarget, assemble
from pydcap.sim.defects import CollateralDefect, QuoteDefect, Revocation
from pydcap.sim.pck_issuer import PckIssuer, PckSubject
from pydcap.sim.pck_issuer import Tcb as PckTcb
from pydcap.sim.pki import CA_KINDS, DAY, Authority, Pki, pem_chain
from pydcap.sim.platform import IssuedPck, SimulatedPlatform, SimulatedSgxPlatform, SimulatedTdxPlatform
from pydcap.sim.publisher import DocumentPublisher
from pydcap.sim.revocation import RevocationLists
from pydcap.sim.scenario_model import Scenario

REFERENCE_TIME = datetime(2025, 7, 1, tzinfo=UTC)
"""A fixed ``now`` for reproducible tests: ``SimulatedIntel(seed, now=REFERENCE_TIME)``."""

P = TypeVar("P", bound=SimulatedPlatform)


def start_of_day(at: TimeLike) -> int:
    """``at`` (default: now) truncated to midnight UTC, as unix seconds."""
    ts = to_unix(at)
    return ts - ts % DAY


class SimulatedIntel:
    """A simulated Intel: PKI, TCB catalog, CRLs, collateral documents and the platforms it certified.

    ``SimulatedIntel(seed)`` is deterministic: the same seed, ``now`` and sequence of calls give the same keys,
    certificates, CRLs, documents and quotes. Its root has Intel's name but not Intel's key, so nothing it signs
    is trusted unless ``trust_root`` (or ``root_pem``) is given to the verifier explicitly.

    ``now`` (unix seconds or an aware datetime, truncated to midnight UTC; default today) is when TCB info,
    identities and CRLs are issued: they are valid from then for 30 days (the root CA CRL for a year), so
    verification at any time in that window, such as the current time, sees fresh collateral. For tests,
    ``now=REFERENCE_TIME`` makes every byte reproducible. Certificates do not depend on ``now``.
    ``catalog`` replaces the default TCB levels and identities (see ``pydcap.sim.catalog``).
    """

    def __init__(self, seed: int = 0, *, now: TimeLike = None, catalog: cat.Catalog | None = None) -> None:
        self._setup(seed, start_of_day(now), catalog, "intel")

    def _setup(self, seed: int, now: int, catalog: cat.Catalog | None, realm: str) -> None:
        self.seed = seed
        self.now = now
        self.pki = Pki.create(seed, realm)
        self._catalog = catalog if catalog is not None else cat.default_catalog()
        self._lock = threading.Lock()
        self.revocations = RevocationLists(self.pki, self.now)
        self.documents = DocumentPublisher(self.pki.tcb_signing, lambda: self._catalog, self.now)
        self.pcks = PckIssuer(self.pki, lambda: self._catalog, self.now)
        self._by_qe_id: dict[bytes, SimulatedPlatform] = {}
        self._by_encrypted_ppid: dict[bytes, SimulatedPlatform] = {}
        self._by_manifest: dict[bytes, SimulatedPlatform] = {}
        # Platform label -> the TCB levels whose PCK certificates PCS does not serve yet (None: every level).
        self._withheld: dict[str, frozenset[PckTcb] | None] = {}
        self._impostor: SimulatedIntel | None = None
        self._scenario_platforms: tuple[SimulatedPlatform, ...] = ()

    # ---- trust ---------------------------------------------------------------------------------

    @property
    def root_pem(self) -> bytes:
        """The simulated root CA certificate (PEM): pass it, or ``trust_root``, to the verifier."""
        return self.pki.root.pem

    @cached_property
    def trust_root(self) -> TrustRoot:
        """The simulated root, with its CAs and TCB Signing certificate pinned as ``TrustRoot.intel()`` pins
        Intel's."""
        pki = self.pki
        return TrustRoot.from_pem(
            self.root_pem, issued=[ca.pem for ca in (pki.processor_ca, pki.platform_ca, pki.tcb_signing)]
        )

    @property
    def catalog(self) -> cat.Catalog:
        return self._catalog

    def impostor(self) -> SimulatedIntel:
        """Another Intel with the same names and catalog but other keys (wrong-root and forgery scenarios)."""
        with self._lock:
            if self._impostor is None:
                impostor = SimulatedIntel.__new__(SimulatedIntel)
                impostor._setup(self.seed, self.now, self._catalog, "impostor")
                self._impostor = impostor
            return self._impostor

    # ---- platforms -----------------------------------------------------------------------------

    def sgx_platform(
        self,
        *,
        scenario: str | Scenario | None = None,
        name: str | None = None,
        fmspc: bytes | str | None = None,
        ca: str | None = None,
        cpu_svn: bytes | Sequence[int] | None = None,
        pce_svn: int | None = None,
        pce_id: bytes | str | None = None,
        qe_svn: int | None = None,
        sgx_type: SgxType | int | None = None,
        qe_mr_signer: bytes | None = None,
        pck_tcb: tuple[bytes | Sequence[int], int] | None = None,
        quote_defects: Iterable[QuoteDefect] = (),
        collateral_defects: Iterable[CollateralDefect] = (),
    ) -> SimulatedSgxPlatform:
        """An SGX platform: fully up to date by default, or as ``scenario`` (a name, or a ``Scenario`` of one's own)
        describes; explicit arguments win.

        ``ca`` is ``processor`` (default) or ``platform`` (a multi-package platform with a platform manifest).
        ``pck_tcb`` (CPUSVN components, PCESVN) is the TCB its PCK certificate certifies; by default the one
        PCS selects for the raw TCB (``cpu_svn``, ``pce_svn``), as a quote provider would have fetched it.
        Platforms are identified by ``name`` (default: the scenario's, else ``default``): the same name gives
        the same PPID, QE ID and keys, so changing only the SVNs models one machine after an update.
        """
        given = _given(
            fmspc=fmspc,
            ca=ca,
            cpu_svn=cpu_svn,
            pce_svn=pce_svn,
            pce_id=pce_id,
            qe_svn=qe_svn,
            sgx_type=sgx_type,
            qe_mr_signer=qe_mr_signer,
            pck_tcb=pck_tcb,
        )
        return self._platform(SimulatedSgxPlatform, "sgx", scenario, name, given, quote_defects, collateral_defects)

    def tdx_platform(
        self,
        *,
        scenario: str | Scenario | None = None,
        name: str | None = None,
        fmspc: bytes | str | None = None,
        ca: str | None = None,
        cpu_svn: bytes | Sequence[int] | None = None,
        pce_svn: int | None = None,
        pce_id: bytes | str | None = None,
        qe_svn: int | None = None,
        sgx_type: SgxType | int | None = None,
        qe_mr_signer: bytes | None = None,
        td_version: str | None = None,
        module_svn: int | None = None,
        module_version: int | None = None,
        late_microcode: int | None = None,
        tee_tcb_svn: bytes | str | None = None,
        current_module_svn: int | None = None,
        current_late_microcode: int | None = None,
        tee_tcb_svn2: bytes | str | None = None,
        mr_seam: bytes | None = None,
        mr_signer_seam: bytes | None = None,
        seam_attributes: bytes | None = None,
        pck_tcb: tuple[bytes | Sequence[int], int] | None = None,
        quote_defects: Iterable[QuoteDefect] = (),
        collateral_defects: Iterable[CollateralDefect] = (),
    ) -> SimulatedTdxPlatform:
        """A TDX platform: TD 1.0 by default; ``td_version="1.5"`` adds TEE_TCB_SVN2, the current TCB.

        TEE_TCB_SVN is ``module_svn, module_version, late_microcode, 0...`` unless given whole; TEE_TCB_SVN2
        likewise from ``current_module_svn`` and ``current_late_microcode`` (default: the launch values).
        Other arguments as for ``sgx_platform`` (default CA: ``platform``).
        """
        given = _given(
            fmspc=fmspc,
            ca=ca,
            cpu_svn=cpu_svn,
            pce_svn=pce_svn,
            pce_id=pce_id,
            qe_svn=qe_svn,
            sgx_type=sgx_type,
            qe_mr_signer=qe_mr_signer,
            td_version=td_version,
            module_svn=module_svn,
            module_version=module_version,
            late_microcode=late_microcode,
            tee_tcb_svn=tee_tcb_svn,
            current_module_svn=current_module_svn,
            current_late_microcode=current_late_microcode,
            tee_tcb_svn2=tee_tcb_svn2,
            mr_seam=mr_seam,
            mr_signer_seam=mr_signer_seam,
            seam_attributes=seam_attributes,
            pck_tcb=pck_tcb,
        )
        return self._platform(SimulatedTdxPlatform, "tdx", scenario, name, given, quote_defects, collateral_defects)

    def scenario_platform(self, scenario: str, tee: str = "sgx") -> SimulatedSgxPlatform | SimulatedTdxPlatform:
        """The platform ``pydcap sim quote --scenario SCENARIO --tee TEE`` quotes from (``KeyError`` for an unknown
        scenario, ``ValueError`` for a TEE it does not apply to)."""
        if not sc.get(scenario).supports(tee):
            raise ValueError(f"scenario {scenario!r} is not for {tee}")
        return self.tdx_platform(scenario=scenario) if tee == "tdx" else self.sgx_platform(scenario=scenario)

    def register_scenario_platforms(self) -> list[SimulatedPlatform]:
        """Certify, once, every platform the command line can quote from with this seed: the default SGX and TDX
        platforms and each scenario's, for each TEE it applies to. As Intel does for registered platforms, PCS
        then serves their PCK certificates (by encrypted PPID, platform manifest or QE ID) and their CRLs list
        what the scenarios revoke, so their quotes verify through a ``SimulatedPcs`` as their scenario says."""
        if not self._scenario_platforms:  # building them twice (two threads at once) gives the same platforms
            platforms: list[SimulatedPlatform] = [self.sgx_platform(), self.tdx_platform()]
            platforms += [self.scenario_platform(s.name, tee) for s in sc.SCENARIOS.values() for tee in s.tees]
            self._scenario_platforms = tuple(platforms)
        return list(self._scenario_platforms)

    def _platform(
        self,
        cls: type[P],
        tee: str,
        named: str | Scenario | None,
        name: str | None,
        given: dict[str, Any],
        quote_defects: Iterable[QuoteDefect],
        collateral_defects: Iterable[CollateralDefect],
    ) -> P:
        scenario = sc.get(named) if isinstance(named, str) else named
        scenario_name = scenario.name if scenario is not None else None
        settings = scenario.platform_settings(tee) if scenario is not None else {}
        settings.update(given)
        qd = frozenset(quote_defects) | (scenario.quote_defects if scenario else frozenset())
        cd = frozenset(collateral_defects) | (scenario.collateral_defects if scenario else frozenset())
        revocations = scenario.revocations if scenario else frozenset()
        owner = self.impostor() if scenario is not None and scenario.impostor else self
        label = name or scenario_name or "default"
        update = scenario.update if scenario is not None else "standard"
        platform = owner._build(cls, tee, label, settings, (scenario_name, update), qd, cd, revocations)
        if owner is not self:
            self._register(platform)
        return platform

    def _build(
        self,
        cls: type[P],
        tee: str,
        name: str,
        settings: dict[str, Any],
        scenario: tuple[str | None, str],
        quote_defects: frozenset[QuoteDefect],
        collateral_defects: frozenset[CollateralDefect],
        revocations: frozenset[Revocation],
    ) -> P:
        fields = factory.common_fields(tee, settings, self._catalog)
        self._ensure_fmspc(fields["fmspc"], tdx=tee == "tdx", pce_id=fields["pce_id"])
        issuer = self.pki.intermediate(fields["ca"])
        if Revocation.INTERMEDIATE_CA in revocations:
            issuer = self.pki.retired_intermediate(fields["ca"])
            self.revocations.revoke(self.pki.root, issuer.serial)
        if Revocation.TCB_SIGNING_CERT in revocations:
            self.revocations.revoke(self.pki.root, self.pki.retired_tcb_signing.serial)
        label = _platform_label(self.pki, tee, name)
        fields.update(factory.identity_fields(self.seed, label, fields["ca"] == "platform"))
        fields.update(
            intel=self,
            name=name,
            issuer=issuer,
            scenario=scenario[0],
            collateral_update=scenario[1],
            quote_defects=quote_defects,
            collateral_defects=collateral_defects,
            default_quote_version=3,
        )
        if tee == "tdx":
            fields.update(factory.tdx_fields(settings))
            fields["default_quote_version"] = 5 if fields["tee_tcb_svn2"] is not None else 4
        subject = _subject(label, fields)
        raw = (tuple(fields["cpu_svn"]), fields["pce_svn"])
        tcb = factory.pck_tcb(settings) or self.pcks.select(subject.fmspc, *raw) or raw
        variant = (
            "expired"
            if QuoteDefect.EXPIRED_PCK_CERTIFICATE in quote_defects
            else "no-sgx-extension"
            if QuoteDefect.PCK_WITHOUT_SGX_EXTENSION in quote_defects
            else ""
        )
        fields["pck"] = self.pcks.issue(subject, tcb, variant)
        fields["pck_chain_pem"] = self.pcks.quote_chain(
            fields["pck"], issuer, quote_defects, lambda: self.impostor().pki
        )
        platform = cls(**fields)
        self._register(platform)
        if Revocation.PCK in revocations:
            self.revoke(platform)
        return platform

    def _ensure_fmspc(self, fmspc: bytes, *, tdx: bool, pce_id: bytes) -> None:
        """An FMSPC the catalog does not know gets the default catalog's levels."""
        with self._lock:
            entry = self._catalog.entry(fmspc)
            if entry is None:
                template = cat.default_entry(fmspc, tdx=tdx)
                entry = cat.FmspcEntry(fmspc, template.segment, template.tcb, pce_id=pce_id)
                self._catalog = self._catalog.with_fmspc(entry)
            elif tdx and not entry.has_tdx:
                raise ValueError(f"FMSPC {fmspc.hex().upper()} is not a TDX platform in this catalog")

    def _register(self, platform: SimulatedPlatform) -> None:
        with self._lock:
            self._by_qe_id[platform.qe_id] = platform
            self._by_encrypted_ppid[platform.encrypted_ppid] = platform
            if platform.platform_manifest is not None:
                self._by_manifest[platform.platform_manifest] = platform

    def find_platform(
        self,
        *,
        qe_id: bytes | None = None,
        encrypted_ppid: bytes | None = None,
        platform_manifest: bytes | None = None,
    ) -> SimulatedPlatform | None:
        """A platform this Intel certified, by encrypted PPID, platform manifest or QE ID."""
        with self._lock:
            if encrypted_ppid is not None:
                return self._by_encrypted_ppid.get(encrypted_ppid)
            if platform_manifest is not None:
                return self._by_manifest.get(platform_manifest)
            if qe_id is not None:
                return self._by_qe_id.get(qe_id)
        return None

    # ---- PCK certificates and revocation -------------------------------------------------------

    def pck_certificates(self, platform: SimulatedPlatform) -> list[tuple[dict[str, int], str, bytes | None]]:
        """What PCS ``pckcerts`` serves: ``(tcb, tcbm, PEM)`` for every TCB level of the platform's FMSPC,
        highest first; the PEM is None where PCS says "Not available" (``withhold_pck_certificates``)."""
        owner = _issuer(platform)
        own = _own_tcb(platform)
        levels = [_own_or(platform, pck) for pck in owner.pcks.all_levels(_platform_subject(platform))]
        if all((pck.components, pck.pce_svn) != own for pck in levels):
            levels = sorted([*levels, platform.pck], key=lambda pck: (pck.components, pck.pce_svn), reverse=True)
        return [
            (pck.tcb, pck.tcbm, None if owner._withholds(platform, (pck.components, pck.pce_svn)) else pck.pem)
            for pck in levels
        ]

    def select_pck(self, platform: SimulatedPlatform, cpu_svn: bytes, pce_svn: int) -> IssuedPck | None:
        """What PCS ``pckcert`` serves for a raw TCB: the best certificate at or below it, or None (404), also
        when that certificate is withheld (PCS does not fall back to a lower level). At the TCB of the platform's
        own PCK certificate this is that certificate, the one its quotes carry, whatever its TCB level."""
        owner = _issuer(platform)
        tcb = owner.pcks.select(platform.fmspc, tuple(cpu_svn), pce_svn, also=(_own_tcb(platform),))
        if tcb is None or owner._withholds(platform, tcb):
            return None
        return _own_or(platform, owner.pcks.issue(_platform_subject(platform), tcb))

    def withhold_pck_certificates(
        self, platform: SimulatedPlatform, tcbs: Iterable[tuple[bytes | Sequence[int], int]] | None = None
    ) -> None:
        """Serve ``platform``'s PCK certificates at ``tcbs`` (CPUSVN components, PCESVN), or at every TCB level
        when None, as "Not available", as Intel's PCS does for certificates it has not generated yet (a platform
        just registered; the newest levels after a TCB recovery). This replaces what was withheld before;
        ``release_pck_certificates`` serves them all again. The platform's own quotes are not affected."""
        levels = None if tcbs is None else frozenset(_pck_tcb(components, pce_svn) for components, pce_svn in tcbs)
        owner = _issuer(platform)
        with owner._lock:
            owner._withheld[_platform_label(owner.pki, platform.tee, platform.name)] = levels

    def release_pck_certificates(self, platform: SimulatedPlatform) -> None:
        """Intel has generated every PCK certificate of ``platform``: PCS serves them all again."""
        owner = _issuer(platform)
        with owner._lock:
            owner._withheld.pop(_platform_label(owner.pki, platform.tee, platform.name), None)

    def _withholds(self, platform: SimulatedPlatform, tcb: PckTcb) -> bool:
        label = _platform_label(self.pki, platform.tee, platform.name)
        with self._lock:
            if label not in self._withheld:
                return False
            levels = self._withheld[label]
        return levels is None or tcb in levels

    def revoke(self, platform: SimulatedPlatform) -> None:
        """Put every PCK certificate of ``platform`` (all TCB levels, and its own) on its CA's CRL."""
        owner = _issuer(platform)
        serials = {platform.pck.serial, *(p.serial for p in owner.pcks.all_levels(_platform_subject(platform)))}
        for serial in serials:
            owner.revocations.revoke(platform.issuer, serial)

    def crl(self, issuer: Authority, **kwargs: Any) -> bytes:
        """``issuer``'s current CRL (DER); see ``RevocationLists.crl`` for the keyword arguments."""
        return self.revocations.crl(issuer, **kwargs)

    def pck_crl(self, ca: str = "processor") -> bytes:
        """The CRL of the ``processor`` or ``platform`` PCK CA (DER)."""
        return self.revocations.crl(self.pki.intermediate(ca))

    def root_ca_crl(self) -> bytes:
        """The root CA's CRL (DER)."""
        return self.revocations.crl(self.pki.root)

    def crl_for_uri(self, uri: str) -> bytes | None:
        """The CRL behind a CRL distribution point URL of this PKI (PCS ``crl?uri=``), or None."""
        return self.revocations.for_uri(uri)

    def pck_crl_issuer_chain(self, ca: str = "processor") -> bytes:
        return pem_chain(self.pki.intermediate(ca), self.pki.root)

    @property
    def signing_chain(self) -> bytes:
        """The issuer chain of TCB info and identity documents: TCB Signing certificate, then root."""
        return pem_chain(self.pki.tcb_signing, self.pki.root)

    # ---- documents -----------------------------------------------------------------------------

    def tcb_info(
        self,
        fmspc: bytes | str,
        tee: str = "sgx",
        *,
        update: str | None = None,
        evaluation: int | None = None,
        version: int = 3,
    ) -> bytes:
        """The TCB info PCS serves for ``fmspc`` and ``tee`` (``update`` standard/early, or an ``evaluation``
        data number; ``version`` 2 is what API v3 serves). ``LookupError`` when there is none."""
        number = self._catalog.evaluation_number(update, evaluation)
        return self.documents.tcb_info(factory.fixed_bytes(fmspc, 6, "FMSPC"), tee, number=number, version=version)

    def enclave_identity(
        self,
        enclave_id: str = "QE",
        *,
        update: str | None = None,
        evaluation: int | None = None,
        advisories: bool = True,
    ) -> bytes:
        """The identity of ``QE``, ``TD_QE`` or ``QVE`` as PCS serves it (API v3: ``advisories=False``)."""
        number = self._catalog.evaluation_number(update, evaluation)
        return self.documents.enclave_identity(enclave_id, number=number, advisories=advisories)

    def tcb_evaluation_data_numbers(self, tee: str = "sgx") -> bytes:
        """The signed list of TCB evaluation data numbers (PCS ``tcbevaluationdatanumbers``)."""
        return self.documents.evaluation_numbers(tee)

    def fmspcs(self, segment: str = "all") -> list[dict[str, str]]:
        """PCS ``fmspcs``: ``[{"platform": "E5", "fmspc": "00806F050000"}, ...]``."""
        return self.documents.fmspcs(segment)

    # ---- collateral ----------------------------------------------------------------------------

    def collateral_for(
        self,
        subject: SimulatedPlatform | Quote | bytes,
        *,
        update: str | None = None,
        tcb_evaluation_data_number: int | None = None,
    ) -> Collateral:
        """Collateral matching a platform or a quote: its CA's PCK CRL and chain, the root CA CRL, the TCB info
        of its FMSPC and TEE, its QE identity. A scenario's collateral defects apply; ``update`` defaults to the
        scenario's (``standard`` otherwise)."""
        target = self.target(subject)
        if target.platform is not None and target.platform.intel is not self:
            return _issuer(target.platform).collateral_for(
                target.platform, update=update, tcb_evaluation_data_number=tcb_evaluation_data_number
            )
        number = self._catalog.evaluation_number(update or target.update, tcb_evaluation_data_number)
        return assemble(self, target, number)

    def target(self, subject: SimulatedPlatform | Quote | bytes) -> CollateralTarget:
        """Resolve a platform or a quote to what its collateral depends on."""
        if isinstance(subject, SimulatedPlatform):
            return CollateralTarget(subject.tee, subject.fmspc, subject.issuer, subject)
        quote = subject if isinstance(subject, Quote) else Quote.parse(subject)
        tee = "tdx" if quote.is_tdx else "sgx"
        platform = self.find_platform(qe_id=quote.header.user_data[:16])
        if platform is not None and platform.tee == tee:
            return CollateralTarget(tee, platform.fmspc, platform.issuer, platform)
        pck = _pck_of(quote)
        for ca in CA_KINDS:
            for authority in (self.pki.intermediate(ca), self.pki.retired_intermediate(ca)):
                if authority.name == pck.x509.issuer and pck.is_signed_by(Certificate(authority.certificate)):
                    return CollateralTarget(tee, pck.fmspc, authority)
        raise ValueError("the quote's PCK certificate was not issued by this simulated Intel")


def _given(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments a caller actually gave (None means 'use the default')."""
    return {k: v for k, v in kwargs.items() if v is not None}


def _platform_label(pki: Pki, tee: str, name: str) -> str:
    """What a platform's identity and PCK keys derive from: the same label is the same machine."""
    return f"{pki.realm}/{tee}/{name}"


def _pck_tcb(components: bytes | Sequence[int], pce_svn: int) -> PckTcb:
    return tuple(factory.fixed_bytes(components, 16, "CPUSVN components")), int(pce_svn)


def _subject(label: str, fields: dict[str, Any]) -> PckSubject:
    return PckSubject(
        label=label,
        issuer=fields["issuer"],
        ppid=fields["ppid"],
        pce_id=fields["pce_id"],
        fmspc=fields["fmspc"],
        sgx_type=fields["sgx_type"],
        platform_instance_id=fields["platform_instance_id"],
    )


def _platform_subject(platform: SimulatedPlatform) -> PckSubject:
    return _subject(
        _platform_label(platform.intel.pki, platform.tee, platform.name),
        {
            "issuer": platform.issuer,
            "ppid": platform.ppid,
            "pce_id": platform.pce_id,
            "fmspc": platform.fmspc,
            "sgx_type": platform.sgx_type,
            "platform_instance_id": platform.platform_instance_id,
        },
    )


def _own_tcb(platform: SimulatedPlatform) -> PckTcb:
    return platform.pck.components, platform.pck.pce_svn


def _own_or(platform: SimulatedPlatform, pck: IssuedPck) -> IssuedPck:
    """``pck``, or the platform's own certificate when that certifies the same TCB (an expired copy, one without
    the SGX extension: PCS holds the certificate the platform was given)."""
    return platform.pck if (pck.components, pck.pce_svn) == _own_tcb(platform) else pck


def _pck_of(quote: Quote) -> PckCertificate:
    pem = quote.pck_chain_pem
    if pem is None:
        raise ValueError("the quote has no PCK certificate chain and comes from no platform this Intel knows")
    try:
        leaf = CertificateChain.parse(pem).find("SGX PCK Certificate")
        if leaf is None:
            raise ValueError("the quote's certificate chain has no PCK certificate")
        return PckCertificate.from_certificate(leaf)
    except FormatError as exc:
        raise ValueError(f"cannot read the quote's PCK certificate: {exc}") from exc


def _issuer(platform: SimulatedPlatform) -> SimulatedIntel:
    """The simulated Intel that certified ``platform`` (platforms know it only as a ``Certifier``)."""
    owner = platform.intel
    if not isinstance(owner, SimulatedIntel):
        raise TypeError(f"platform {platform.name!r} was certified by {owner!r}, not by a SimulatedIntel")
    return owner
