"""TCB info (v2 and v3, SGX and TDX): the TCB levels of one FMSPC, with statuses, dates and advisories.

Levels are kept sorted the way Intel's library sorts them (highest SGX components first, then PCESVN,
then TDX components), whatever order the document lists them in; duplicate levels make it invalid.
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass
from typing import Any

from pydcap.collateral.fields import (
    Fields,
    mistyped_is_invalid,
    plain_date,
    plain_hex,
    plain_isv_level,
    plain_strings,
    plain_uint,
    signed_body,
)
from pydcap.collateral.signed import SignedDocument
from pydcap.errors import CollateralFormatError, InvalidCollateralError, UnsupportedVersionError
from pydcap.lazy import computed_once, maker

PART = "tcb_info"

TCB_STATUSES = frozenset(
    {
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
        "Revoked",
    }
)


@dataclass(frozen=True, slots=True)
class TcbLevel:
    sgx_components: tuple[int, ...]
    pce_svn: int
    tdx_components: tuple[int, ...] | None
    tcb_date: int
    status: str
    advisory_ids: tuple[str, ...]

    @property
    def sort_key(self) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
        return (self.sgx_components, self.pce_svn, self.tdx_components or ())


_make_level = maker(TcbLevel)


@dataclass(frozen=True, slots=True)
class ModuleTcbLevel:
    isv_svn: int
    tcb_date: int
    status: str
    advisory_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TdxModule:
    mr_signer: bytes
    attributes: bytes
    attributes_mask: bytes


@dataclass(frozen=True, slots=True)
class TdxModuleIdentity:
    id: str
    mr_signer: bytes
    attributes: bytes
    attributes_mask: bytes
    tcb_levels: tuple[ModuleTcbLevel, ...]


_make_module_level = maker(ModuleTcbLevel)
_make_module = maker(TdxModule)
_make_identity = maker(TdxModuleIdentity)


@dataclass(frozen=True)
class TcbInfo:
    """A parsed TCB info document. ``signed`` keeps the exact signed body and its signature."""

    signed: SignedDocument
    version: int
    id: str
    issue_date: int
    next_update: int
    fmspc: bytes
    pce_id: bytes
    tcb_type: int
    tcb_evaluation_data_number: int
    tcb_levels: tuple[TcbLevel, ...]
    tdx_module: TdxModule | None
    tdx_module_identities: tuple[TdxModuleIdentity, ...] | None

    @classmethod
    def parse(cls, data: bytes | str | SignedDocument) -> TcbInfo:
        """Parse a served ``{"tcbInfo":...,"signature":...}`` document (or an already split one)."""
        return _parse_body(*signed_body(data, "tcbInfo", PART))

    @property
    def is_tdx(self) -> bool:
        return self.id == "TDX"

    def module_identity(self, module_version: int) -> TdxModuleIdentity | None:
        """The ``TDX_%02X`` module identity for TEE_TCB_SVN[1], compared case-insensitively as Intel does."""
        return self._module_identities.get(f"TDX_{module_version:02X}")

    @computed_once
    def _module_identities(self) -> dict[str, TdxModuleIdentity]:
        by_id: dict[str, TdxModuleIdentity] = {}
        for identity in self.tdx_module_identities or ():
            by_id.setdefault(identity.id.upper(), identity)  # the first one wins, as in Intel's search
        return by_id


def _components(f: Fields, key: str) -> tuple[int, ...]:
    """16 component SVNs; a component's optional ``category`` and ``type`` must be strings, as Intel checks."""
    items = f.array(key)
    if len(items) != 16:
        raise InvalidCollateralError(PART, f"{f.path}.{key} must have 16 components")
    try:
        values = tuple(item["svn"] for item in items)
        if all(type(v) is int and 0 <= v <= 255 for v in values) and all(
            type(item.get("category", "")) is str and type(item.get("type", "")) is str for item in items
        ):
            return values
    except (TypeError, KeyError):
        pass
    # Slow path, only to name the offending component precisely.
    return tuple(_component(Fields(item, PART, f"{f.path}.{key}[{i}]")) for i, item in enumerate(items))


def _plain_components(items: object) -> tuple[int, ...] | None:
    """What ``_components`` reads from ``items`` when it has 16 well-formed components; None otherwise."""
    if type(items) is not list or len(items) != 16:
        return None
    values = []
    for item in items:
        if type(item) is not dict:
            return None
        svn = item.get("svn")
        if type(svn) is not int or not 0 <= svn <= 255:
            return None
        if len(item) > 1 and not (type(item.get("category", "")) is str and type(item.get("type", "")) is str):
            return None
        values.append(svn)
    return tuple(values)


def _plain_levels(items: list[Any], tdx: bool) -> list[TcbLevel] | None:
    """The v3 levels ``_level`` reads from ``items`` when every one is well-formed, read without a ``Fields`` per
    object; None when any is not, for ``_level`` to name what is wrong."""
    levels = []
    for item in items:
        if type(item) is not dict:
            return None
        tcb = item.get("tcb")
        if type(tcb) is not dict:
            return None
        sgx = _plain_components(tcb.get("sgxtcbcomponents"))
        tdx_components = _plain_components(tcb.get("tdxtcbcomponents")) if tdx else None
        pce_svn = plain_uint(tcb.get("pcesvn"), 0xFFFF)
        status = item.get("tcbStatus")
        tcb_date = plain_date(item.get("tcbDate"))
        advisory_ids = plain_strings(item, "advisoryIDs")
        if (
            sgx is None
            or (tdx and tdx_components is None)
            or pce_svn is None
            or type(status) is not str
            or status not in TCB_STATUSES
            or tcb_date is None
            or advisory_ids is None
        ):
            return None
        levels.append(_make_level(sgx, pce_svn, tdx_components, tcb_date, status, advisory_ids))
    return levels


def _component(f: Fields) -> int:
    for label in ("category", "type"):
        if f.has(label):
            f.string(label)
    return f.uint("svn", 255)


def _level(f: Fields, version: int, tdx: bool) -> TcbLevel:
    tcb = f.obj_at("tcb")
    if version == 2:
        sgx = tuple(tcb.uint(f"sgxtcbcomp{i:02d}svn", 255) for i in range(1, 17))
        tdx_components = None
    else:
        sgx = _components(tcb, "sgxtcbcomponents")
        tdx_components = _components(tcb, "tdxtcbcomponents") if tdx else None
    status = f.string("tcbStatus")
    if status not in TCB_STATUSES:
        raise InvalidCollateralError(PART, f"{f.path}.tcbStatus {status!r} is not a TCB status")
    return TcbLevel(
        sgx_components=sgx,
        pce_svn=tcb.uint("pcesvn", 0xFFFF),
        tdx_components=tdx_components,
        tcb_date=f.date("tcbDate"),
        status=status,
        advisory_ids=f.strings("advisoryIDs"),
    )


def _tdx_module(f: Fields) -> TdxModule:
    """``tdxModule``; Intel's parser calls any defect in it a format error."""
    try:
        return TdxModule(f.hexbytes("mrsigner", 48), f.hexbytes("attributes", 8), f.hexbytes("attributesMask", 8))
    except InvalidCollateralError as exc:
        raise CollateralFormatError(PART, exc.reason) from exc


def _module_identity(f: Fields) -> TdxModuleIdentity:
    """One ``tdxModuleIdentities`` entry; Intel's parser calls any defect in it (two levels with one ISVSVN
    included) a format error. Level statuses are judged only when a level matches (``verify.tcb``)."""
    try:
        levels = []
        for i, item in enumerate(f.array("tcbLevels")):
            lf = Fields(item, PART, f"{f.path}.tcbLevels[{i}]")
            levels.append(
                ModuleTcbLevel(
                    isv_svn=lf.obj_at("tcb").uint("isvsvn", 255),
                    tcb_date=lf.date("tcbDate"),
                    status=lf.string("tcbStatus"),
                    advisory_ids=lf.strings("advisoryIDs"),
                )
            )
        identity = TdxModuleIdentity(
            id=f.string("id"),
            mr_signer=f.hexbytes("mrsigner", 48),
            attributes=f.hexbytes("attributes", 8),
            attributes_mask=f.hexbytes("attributesMask", 8),
            tcb_levels=tuple(sorted(levels, key=_isv_svn, reverse=True)),
        )
    except InvalidCollateralError as exc:
        raise CollateralFormatError(PART, exc.reason) from exc
    if not levels:
        raise CollateralFormatError(PART, f"{f.path}.tcbLevels is empty")
    for a, b in itertools.pairwise(identity.tcb_levels):
        if a.isv_svn == b.isv_svn:
            raise CollateralFormatError(PART, f"{f.path}.tcbLevels has two levels for ISVSVN {a.isv_svn}")
    return identity


def _plain_tdx_module(obj: object) -> TdxModule | None:
    """What ``_tdx_module`` reads when every member is well-formed; None when one is not, for it to name."""
    if type(obj) is not dict:
        return None
    mr_signer = plain_hex(obj.get("mrsigner"), 48)
    attributes = plain_hex(obj.get("attributes"), 8)
    mask = plain_hex(obj.get("attributesMask"), 8)
    if mr_signer is None or attributes is None or mask is None:
        return None
    return _make_module(mr_signer, attributes, mask)


def _plain_module_identities(items: object) -> tuple[TdxModuleIdentity, ...] | None:
    """What ``_module_identity`` reads from each of ``items`` when every one is well-formed (and there is one);
    None when one is not, for it to name."""
    if type(items) is not list:
        return None
    identities = []
    for item in items:
        if type(item) is not dict:
            return None
        level_items = item.get("tcbLevels")
        if type(level_items) is not list or not level_items:
            return None
        levels = []
        for level_item in level_items:
            level = plain_isv_level(level_item, 255)
            if level is None:
                return None
            levels.append(_make_module_level(*level))
        identity_id = item.get("id")
        module = _plain_tdx_module(item)  # its MRSIGNER and attributes, read as a module's
        if type(identity_id) is not str or module is None:
            return None
        levels.sort(key=_isv_svn, reverse=True)
        if len(set(map(_isv_svn, levels))) < len(levels):
            return None  # two levels for one ISVSVN: ``_module_identity`` says so
        identities.append(
            _make_identity(identity_id, module.mr_signer, module.attributes, module.attributes_mask, tuple(levels))
        )
    return tuple(identities) or None


_isv_svn = operator.attrgetter("isv_svn")
_sort_key = operator.attrgetter("sort_key")
_Header = tuple[int, str, int, int, bytes, bytes, list[Any], int, int]


def _header(f: Fields) -> _Header:
    """The top-level members before the TDX module and the levels: version, id, dates, FMSPC, PCE-ID, the levels'
    array, TCB type and evaluation data number, read and judged in Intel's order."""
    version = mistyped_is_invalid(f, f.uint, "version")
    if version not in (2, 3):
        raise UnsupportedVersionError(PART, f"TCB info version {version} is not supported (2 or 3)")
    tee_id = mistyped_is_invalid(f, f.string, "id") if version == 3 else "SGX"
    if tee_id not in ("SGX", "TDX"):
        raise InvalidCollateralError(PART, f"tcbInfo.id {tee_id!r} is neither SGX nor TDX")
    issue_date = mistyped_is_invalid(f, f.date, "issueDate")
    next_update = mistyped_is_invalid(f, f.date, "nextUpdate")
    fmspc = mistyped_is_invalid(f, f.hexbytes, "fmspc", 6)
    pce_id = mistyped_is_invalid(f, f.hexbytes, "pceId", 2)
    level_items = f.obj.get("tcbLevels")
    if not isinstance(level_items, list):
        raise InvalidCollateralError(PART, "tcbInfo.tcbLevels is missing or not an array")
    tcb_type = mistyped_is_invalid(f, f.uint, "tcbType")
    if tcb_type != 0:
        raise InvalidCollateralError(PART, f"tcbType {tcb_type} is not supported (0)")
    evaluation = mistyped_is_invalid(f, f.uint, "tcbEvaluationDataNumber")
    return version, tee_id, issue_date, next_update, fmspc, pce_id, level_items, tcb_type, evaluation


def _plain_header(obj: dict[str, Any]) -> _Header | None:
    """What ``_header`` reads when every member is well-formed; None when one is not, for ``_header`` to name it."""
    version = obj.get("version")
    tee_id = obj.get("id") if version == 3 else "SGX"
    level_items = obj.get("tcbLevels")
    evaluation = plain_uint(obj.get("tcbEvaluationDataNumber"))
    issue_date = plain_date(obj.get("issueDate"))
    next_update = plain_date(obj.get("nextUpdate"))
    fmspc = plain_hex(obj.get("fmspc"), 6)
    pce_id = plain_hex(obj.get("pceId"), 2)
    if (
        type(version) is not int
        or version not in (2, 3)
        or tee_id not in ("SGX", "TDX")
        or issue_date is None
        or next_update is None
        or fmspc is None
        or pce_id is None
        or type(level_items) is not list
        or type(obj.get("tcbType")) is not int
        or obj["tcbType"] != 0
        or evaluation is None
    ):
        return None
    return version, tee_id, issue_date, next_update, fmspc, pce_id, level_items, 0, evaluation


def _parse_body(signed: SignedDocument, f: Fields) -> TcbInfo:
    """In Intel's order: version, id, dates, FMSPC, PCE-ID, the presence of the levels, then the rest. As in its
    parser, a top-level member that is missing is a format error and one of the wrong type makes it invalid."""
    header = _plain_header(f.obj) or _header(f)
    version, tee_id, issue_date, next_update, fmspc, pce_id, level_items, tcb_type, evaluation = header
    tdx = tee_id == "TDX"
    tdx_module = None
    identities = None
    if version == 3 and tdx:
        if not f.has("tdxModule"):
            raise InvalidCollateralError(PART, "a TDX TCB info needs tcbInfo.tdxModule")
        tdx_module = _plain_tdx_module(f.obj["tdxModule"]) or _tdx_module(f.obj_at("tdxModule"))
        if f.has("tdxModuleIdentities"):
            identities = _plain_module_identities(f.obj["tdxModuleIdentities"]) or tuple(
                _module_identity(Fields(item, PART, f"tcbInfo.tdxModuleIdentities[{i}]"))
                for i, item in enumerate(f.array("tdxModuleIdentities"))
            )
            if not identities:
                raise InvalidCollateralError(PART, "tcbInfo.tdxModuleIdentities is empty")
    elif f.has("tdxModule") or f.has("tdxModuleIdentities"):
        raise InvalidCollateralError(PART, "an SGX TCB info must not describe a TDX module")
    levels = _plain_levels(level_items, tdx) if version == 3 else None
    if levels is None:
        levels = [
            _level(Fields(item, PART, f"tcbInfo.tcbLevels[{i}]"), version, tdx) for i, item in enumerate(level_items)
        ]
    if not levels:
        raise InvalidCollateralError(PART, "tcbInfo.tcbLevels is empty")
    levels.sort(key=_sort_key, reverse=True)
    if len({level.sort_key for level in levels}) < len(levels):  # two levels with the same TCB
        raise InvalidCollateralError(PART, "tcbInfo.tcbLevels has two levels with the same TCB")
    return TcbInfo(
        signed=signed,
        version=version,
        id=tee_id,
        issue_date=issue_date,
        next_update=next_update,
        fmspc=fmspc,
        pce_id=pce_id,
        tcb_type=tcb_type,
        tcb_evaluation_data_number=evaluation,
        tcb_levels=tuple(levels),
        tdx_module=tdx_module,
        tdx_module_identities=identities,
    )
