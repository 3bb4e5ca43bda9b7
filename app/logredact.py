"""Keep bearer tokens out of every log line livecart writes.

Clients may still send ``?token=`` (older pages, scripts), and uvicorn logs each
request's path with its query string: in the access log, and in the per-socket
``[accepted]`` lines. ``RedactTokens`` rewrites ``token=<value>`` and
``Bearer <value>`` to ``[redacted]`` before any handler formats the record.

Where it sits matters. A logger's filters see only records logged on that logger,
not those propagated from its children, so the filter goes on every handler that
exists at startup (root's, uvicorn's ``default`` and ``access``) as well as on the
loggers that log request paths. uvicorn applies its ``dictConfig`` before the app
is imported, and the lifespan starts after that (with ``--workers`` too: each
child configures logging, then loads the app), so nothing drops it afterwards.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"
# A token runs to the next '&', whitespace, quote or the end; itsdangerous tokens are
# URL-safe base64 and dots, but anything a client put there is hidden.
_TOKEN = re.compile(r"(token=|Bearer\s+)(?!\[redacted\])[^&\s\"'<>]+", re.IGNORECASE)
_MARK = "_livecart_redacted"  # set once a record was checked: the filter sits on several hops

# Loggers whose own records carry request paths; handlers cover what propagates.
LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error", "livecart")


def redact(text: str) -> str:
    return _TOKEN.sub(lambda m: m.group(1) + REDACTED, text)


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactTokens(logging.Filter):
    """Rewrites tokens in a record's message and arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MARK, False):
            return True
        setattr(record, _MARK, True)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the formatter to report
            return True
        if _TOKEN.search(message) is None:
            return True
        # Redact argument by argument first: uvicorn's access formatter unpacks the
        # five arguments of its access line, so their number must stay the same.
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_value(arg) for key, arg in record.args.items()}
        if _TOKEN.search(record.getMessage()) is not None:
            # In the format itself, or split between it and an argument ("token=%s").
            record.msg, record.args = redact(message), ()
        color = record.__dict__.get("color_message")
        if isinstance(color, str):
            record.__dict__["color_message"] = redact(color)
        return True


FILTER = RedactTokens()


def _loggers() -> list[logging.Logger]:
    manager = logging.Logger.manager
    named = [
        logger
        for name, logger in list(manager.loggerDict.items())
        if isinstance(logger, logging.Logger)
        and (name in LOGGERS or name.startswith(("livecart.", "uvicorn.")))
    ]
    return [logging.getLogger(name) for name in LOGGERS] + named


def install() -> None:
    """Put the filter on livecart's and uvicorn's loggers and on every handler there is.

    Idempotent (``addFilter`` skips a filter already present), so every app's lifespan
    may call it. A handler added later (a test's, an operator's) is not covered unless
    its records come through one of these loggers.
    """
    for logger in _loggers():
        logger.addFilter(FILTER)
    every: list[object] = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for owner in every:  # placeholders (names with no logger yet) have no handlers
        for handler in getattr(owner, "handlers", ()):
            handler.addFilter(FILTER)
