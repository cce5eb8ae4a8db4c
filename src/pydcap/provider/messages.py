"""Where the messages of pydcap's own providers go: to the callback given to ``set_logging`` when there is
one, else to Python logging up to the provider's configured level (None: silent); and, optionally, every
message to a file whatever the level (as Azure's library does with ``AZDCAP_WRITE_LOGS_TO_FILE``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path

from pydcap.provider.interface import LogCallback, LogLevel

_PYTHON_LEVELS = {
    LogLevel.ERROR: logging.ERROR,
    LogLevel.WARNING: logging.WARNING,
    LogLevel.INFO: logging.INFO,
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.TRACE: logging.DEBUG,
}


class ProviderLog:
    """One provider's message sink. ``fallback_level`` bounds what reaches Python logging (under
    ``logger_name``) while no callback is set; ``log_file``, when given, receives every message."""

    def __init__(self, logger_name: str, fallback_level: LogLevel | None, log_file: Path | None = None) -> None:
        self.logger = logging.getLogger(logger_name)
        self.fallback_level = fallback_level
        self.log_file = log_file
        self._callback: LogCallback | None = None
        self._callback_level = LogLevel.INFO
        self._file_lock = threading.Lock()

    def set_callback(self, callback: LogCallback | None, level: LogLevel = LogLevel.INFO) -> None:
        self._callback, self._callback_level = callback, level

    def say(self, level: LogLevel, message: str) -> None:
        if self.log_file is not None:
            # A file that cannot be written (/tmp/dcapLog.txt of another user) stops no request; Azure's
            # library exits the process instead.
            with self._file_lock, contextlib.suppress(OSError), self.log_file.open("a", encoding="utf-8") as f:
                f.write(f"[{level.name}]: {message}\n")
        callback = self._callback
        if callback is not None:
            if level <= self._callback_level:
                callback(level, message)
            return
        if self.fallback_level is not None and level <= self.fallback_level:
            self.logger.log(_PYTHON_LEVELS[level], "%s", message)
