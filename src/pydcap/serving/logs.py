"""The services' logs: one line per event and per request (``pydcap.pccs.access`` at info level, as Intel's PCCS
logs every request), readable on a terminal, or one JSON object per line (time, level, logger, message and the
request's fields) for log collectors. An expected miss is one line; only the unexpected carries a stack trace.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

_FIELDS = ("request_id", "method", "path", "status", "endpoint", "duration_ms", "client")  # the server's ``extra``
LOG_FORMATS = ("auto", "text", "json")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2025-07-19 10:01:17.123 info    GET /sgx/certification/v4/qe/identity 200 0.4 ms`` (request id last)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        line = f"{when} {record.levelname.lower():<7} {record.getMessage()}"
        rid = getattr(record, "request_id", None)
        if rid:
            line += f"  [{rid}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "info", stream: TextIO | None = None, log_format: str = "auto") -> None:
    """pydcap's loggers (the PCCS, the cache, the sources) at ``level`` on ``stream`` (stderr): readable lines,
    or JSON lines; ``auto`` is readable on a terminal and JSON otherwise."""
    target = stream or sys.stderr
    if log_format == "auto":
        log_format = "text" if target.isatty() else "json"
    handler = logging.StreamHandler(target)
    handler.setFormatter(TextFormatter() if log_format == "text" else JsonFormatter())
    for name in ("pydcap", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
