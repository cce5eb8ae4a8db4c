"""Intel's QCNL client in Python: ``QcnlProvider`` behaves as Intel's QPL/QCNL does under its configuration file
(``QcnlConfig``: URLs, parameters, retries, the ``.dcap-qcnl/`` cache, ``local_cache_only``), except that every
answer is admitted against the trust root before it is cached or returned."""

from pydcap.provider.qcnl.config import QcnlConfig, load_qcnl_config, parse_qcnl_config
from pydcap.provider.qcnl.provider import QcnlProvider

__all__ = ["QcnlConfig", "QcnlProvider", "load_qcnl_config", "parse_qcnl_config"]
