"""pydcap's PCCS: an Intel-compatible provisioning certificate caching service (API v3 and v4, SGX and TDX),
on ``pydcap.cache`` (everything verified before it is stored; SQLite or PostgreSQL) and ``pydcap.sources``.

``load_config(path)`` reads Intel-style configuration; ``PccsService.from_config(config)`` is the service
without HTTP; ``PccsApp`` the ASGI application; ``serve(config)`` runs it (``pydcap pccs serve``) and
``PccsServer`` runs it in a background thread. ``import_collateral`` / ``export_collateral`` speak Intel's
``platformcollateral`` JSON; ``select_certificate`` is Intel's PCK certificate selection.
"""

from pydcap.pccs.app import PccsApp
from pydcap.pccs.collateral_file import ImportSummary, export_collateral, import_collateral
from pydcap.pccs.config import CachingMode, PccsConfig, load_config
from pydcap.pccs.errors import PccsError
from pydcap.pccs.schedule import RefreshSchedule
from pydcap.pccs.selection import Tcb, intel_select, select_certificate
from pydcap.pccs.server import PccsServer, build_app, serve
from pydcap.pccs.service import PccsService
from pydcap.serving.values import ConfigError

__all__ = [
    "CachingMode",
    "ConfigError",
    "ImportSummary",
    "PccsApp",
    "PccsConfig",
    "PccsError",
    "PccsServer",
    "PccsService",
    "RefreshSchedule",
    "Tcb",
    "build_app",
    "export_collateral",
    "import_collateral",
    "intel_select",
    "load_config",
    "select_certificate",
    "serve",
]
