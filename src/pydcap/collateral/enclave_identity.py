"""Enclave identity documents (version 2): the expected identity and TCB levels of Intel's QE, TD QE or QvE."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from pydcap.collateral.fields import Fields, signed_body
from pydcap.collateral.signed import SignedDocument
from pydcap.errors import InvalidCollateralError, UnsupportedVersionError

PART = "qe_identity"

ENCLAVE_IDS = frozenset({"QE", "QVE", "TD_QE"})
# Intel's library accepts only these statuses in an enclave identity; any other makes it invalid.
IDENTITY_STATUSES = frozenset({"UpToDate", "OutOfDate", "Revoked"})


@dataclass(frozen=True, slots=True)
class IdentityTcbLevel:
    isv_svn: int
    tcb_date: int
    status: str
    advisory_ids: tuple[str, ...]


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
    enclave_id = f.string("id")
    if enclave_id not in ENCLAVE_IDS:
        raise InvalidCollateralError(PART, f"enclaveIdentity.id {enclave_id!r} is not QE, QVE or TD_QE")
    version = f.uint("version")
    if version != 2:
        raise UnsupportedVersionError(PART, f"enclave identity version {version} is not supported (2)")
    levels = []
    for i, item in enumerate(f.array("tcbLevels")):
        lf = Fields(item, PART, f"enclaveIdentity.tcbLevels[{i}]")
        status = lf.string("tcbStatus")
        if status not in IDENTITY_STATUSES:
            raise InvalidCollateralError(PART, f"{lf.path}.tcbStatus {status!r} is not valid for an enclave")
        levels.append(
            IdentityTcbLevel(
                isv_svn=lf.obj_at("tcb").uint("isvsvn", 0xFFFF),
                tcb_date=lf.date("tcbDate"),
                status=status,
                advisory_ids=lf.strings("advisoryIDs"),
            )
        )
    if not levels:
        raise InvalidCollateralError(PART, "enclaveIdentity.tcbLevels is empty")
    levels.sort(key=lambda lv: (lv.isv_svn, lv.tcb_date), reverse=True)
    for a, b in itertools.pairwise(levels):
        if (a.isv_svn, a.tcb_date) == (b.isv_svn, b.tcb_date):
            raise InvalidCollateralError(PART, "enclaveIdentity.tcbLevels has duplicate levels")
    return EnclaveIdentity(
        signed=signed,
        id=enclave_id,
        version=version,
        issue_date=f.date("issueDate"),
        next_update=f.date("nextUpdate"),
        tcb_evaluation_data_number=f.uint("tcbEvaluationDataNumber"),
        miscselect=int.from_bytes(f.hexbytes("miscselect", 4), "little"),
        miscselect_mask=int.from_bytes(f.hexbytes("miscselectMask", 4), "little"),
        attributes=f.hexbytes("attributes", 16),
        attributes_mask=f.hexbytes("attributesMask", 16),
        mr_signer=f.hexbytes("mrsigner", 32),
        isv_prod_id=f.uint("isvprodid", 0xFFFF),
        tcb_levels=tuple(levels),
    )
