"""Enclave identity documents (version 2): the expected identity and TCB levels of Intel's QE, TD QE or QvE."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydcap.collateral.fields import (
    Fields,
    mistyped_is_invalid,
    plain_date,
    plain_hex,
    plain_isv_level,
    plain_uint,
    signed_body,
)
from pydcap.collateral.signed import SignedDocument
from pydcap.errors import CollateralFormatError, InvalidCollateralError, UnsupportedVersionError
from pydcap.lazy import maker

PART = "qe_identity"
T = TypeVar("T")

ENCLAVE_IDS = frozenset({"QE", "QVE", "TD_QE"})
# Intel's library accepts only these statuses in an enclave identity; any other makes it invalid.
IDENTITY_STATUSES = frozenset({"UpToDate", "OutOfDate", "Revoked"})


@dataclass(frozen=True, slots=True)
class IdentityTcbLevel:
    isv_svn: int
    tcb_date: int
    status: str
    advisory_ids: tuple[str, ...]


_make_level = maker(IdentityTcbLevel)


@dataclass(frozen=True)
class EnclaveIdentity:
    signed: SignedDocument
    id: str
    version: int
    issue_date: int
    next_update: int
    tcb_evaluation_data_number: int
    miscselect: int
    miscselect_mask: int
    attributes: bytes
    attributes_mask: bytes
    mr_signer: bytes
    isv_prod_id: int
    tcb_levels: tuple[IdentityTcbLevel, ...]

    @classmethod
    def parse(cls, data: bytes | str | SignedDocument) -> EnclaveIdentity:
        """Parse a served ``{"enclaveIdentity":...,"signature":...}`` document (or an already split one)."""
        return _parse_body(*signed_body(data, "enclaveIdentity", PART))

    def level_for(self, isv_svn: int) -> IdentityTcbLevel | None:
        """The highest level whose ISVSVN is not above ``isv_svn`` (levels are sorted highest first)."""
        for level in self.tcb_levels:
            if level.isv_svn <= isv_svn:
                return level
        return None


def _parse_body(signed: SignedDocument, f: Fields) -> EnclaveIdentity:
    """In Intel's order and with its error kinds: a member of ``enclaveIdentity`` that is missing or of the wrong
    type makes the document invalid (a format error is only unreadable JSON, a missing body or signature, or a
    level lacking one of its members); then an unsupported version; then the levels."""
    plain = _plain_body(signed, f.obj)
    if plain is not None:
        return plain
    enclave_id = _member(f.string, "id")
    if enclave_id not in ENCLAVE_IDS:
        raise InvalidCollateralError(PART, f"enclaveIdentity.id {enclave_id!r} is not QE, QVE or TD_QE")
    version = _member(f.uint, "version")
    if version != 2:
        raise UnsupportedVersionError(PART, f"enclave identity version {version} is not supported (2)")
    issue_date, next_update = _member(f.date, "issueDate"), _member(f.date, "nextUpdate")
    evaluation = _member(f.uint, "tcbEvaluationDataNumber")
    miscselect = int.from_bytes(_member(f.hexbytes, "miscselect", 4), "little")
    miscselect_mask = int.from_bytes(_member(f.hexbytes, "miscselectMask", 4), "little")
    attributes = _member(f.hexbytes, "attributes", 16)
    attributes_mask = _member(f.hexbytes, "attributesMask", 16)
    mr_signer = _member(f.hexbytes, "mrsigner", 32)
    isv_prod_id = _member(f.uint, "isvprodid", 0xFFFF)
    levels = [
        _level(Fields(item, PART, f"enclaveIdentity.tcbLevels[{i}]"))
        for i, item in enumerate(_member(f.array, "tcbLevels"))
    ]
    if not levels:
        raise InvalidCollateralError(PART, "enclaveIdentity.tcbLevels is empty")
    levels.sort(key=_level_key, reverse=True)
    for a, b in itertools.pairwise(levels):
        if _level_key(a) == _level_key(b):
            raise InvalidCollateralError(PART, "enclaveIdentity.tcbLevels has duplicate levels")
    return EnclaveIdentity(
        signed=signed,
        id=enclave_id,
        version=version,
        issue_date=issue_date,
        next_update=next_update,
        tcb_evaluation_data_number=evaluation,
        miscselect=miscselect,
        miscselect_mask=miscselect_mask,
        attributes=attributes,
        attributes_mask=attributes_mask,
        mr_signer=mr_signer,
        isv_prod_id=isv_prod_id,
        tcb_levels=tuple(levels),
    )


def _plain_body(signed: SignedDocument, obj: dict[str, Any]) -> EnclaveIdentity | None:
    """What ``_parse_body`` reads when every member is well-formed, without a ``Fields`` per object; None when one
    is not, for ``_parse_body`` to name it."""
    enclave_id = obj.get("id")
    version = obj.get("version")
    issue_date = plain_date(obj.get("issueDate"))
    next_update = plain_date(obj.get("nextUpdate"))
    evaluation = plain_uint(obj.get("tcbEvaluationDataNumber"))
    miscselect = plain_hex(obj.get("miscselect"), 4)
    miscselect_mask = plain_hex(obj.get("miscselectMask"), 4)
    attributes = plain_hex(obj.get("attributes"), 16)
    attributes_mask = plain_hex(obj.get("attributesMask"), 16)
    mr_signer = plain_hex(obj.get("mrsigner"), 32)
    isv_prod_id = plain_uint(obj.get("isvprodid"), 0xFFFF)
    items = obj.get("tcbLevels")
    if (
        type(enclave_id) is not str
        or enclave_id not in ENCLAVE_IDS
        or type(version) is not int
        or version != 2
        or issue_date is None
        or next_update is None
        or evaluation is None
        or miscselect is None
        or miscselect_mask is None
        or attributes is None
        or attributes_mask is None
        or mr_signer is None
        or isv_prod_id is None
        or type(items) is not list
        or not items
    ):
        return None
    levels = []
    for item in items:
        level = plain_isv_level(item, 0xFFFF)
        if level is None or level[2] not in IDENTITY_STATUSES:
            return None
        levels.append(_make_level(*level))
    levels.sort(key=_level_key, reverse=True)
    if len(set(map(_level_key, levels))) < len(levels):
        return None  # duplicate levels: ``_parse_body`` says so
    return EnclaveIdentity(
        signed,
        enclave_id,
        version,
        issue_date,
        next_update,
        evaluation,
        int.from_bytes(miscselect, "little"),
        int.from_bytes(miscselect_mask, "little"),
        attributes,
        attributes_mask,
        mr_signer,
        isv_prod_id,
        tuple(levels),
    )


_level_key = operator.attrgetter("isv_svn", "tcb_date")


def _level(f: Fields) -> IdentityTcbLevel:
    """One level: a missing member is a format error, one of the wrong type or value makes it invalid."""
    tcb = f.obj_at("tcb")
    isv_svn = mistyped_is_invalid(tcb, tcb.uint, "isvsvn", 0xFFFF)
    tcb_date = mistyped_is_invalid(f, f.date, "tcbDate")
    status = mistyped_is_invalid(f, f.string, "tcbStatus")
    if status not in IDENTITY_STATUSES:
        raise InvalidCollateralError(PART, f"{f.path}.tcbStatus {status!r} is not valid for an enclave")
    return IdentityTcbLevel(isv_svn=isv_svn, tcb_date=tcb_date, status=status, advisory_ids=f.strings("advisoryIDs"))


def _member(read: Callable[..., T], *args: Any) -> T:
    """``read(*args)``, any defect of the member making the document invalid."""
    try:
        return read(*args)
    except CollateralFormatError as exc:
        raise InvalidCollateralError(PART, exc.reason) from exc
