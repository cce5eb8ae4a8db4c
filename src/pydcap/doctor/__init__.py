"""``pydcap doctor`` and ``pydcap provider list|show``: what this machine offers for attestation (``machine``), every
quote provider it could use, described without loading or contacting anything (``overview``), whether the services
they name answer (``probe``), and the findings judged with what to do about each (``diagnosis``)."""

from pydcap.doctor.diagnosis import DoctorReport, examine
from pydcap.doctor.machine import MachineFacts, inspect_machine
from pydcap.doctor.overview import ProviderOverview, ProviderSummary, survey
from pydcap.doctor.probe import ServiceProbe, probe_service

__all__ = [
    "DoctorReport",
    "MachineFacts",
    "ProviderOverview",
    "ProviderSummary",
    "ServiceProbe",
    "examine",
    "inspect_machine",
    "probe_service",
    "survey",
]
