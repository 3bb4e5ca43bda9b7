"""The hub's Prometheus metrics: viewer sockets, joins, refusals, frames, evictions.

Module-level ``prometheus_client`` objects, incremented by the hub and the
WebSocket route, exposed by ``GET /metrics`` (``app.metrics``). Every name
starts with ``livecart_``; counters are exposed with the ``_total`` suffix.

With several processes (``livecart serve --workers N``) ``prometheus_client``
runs in multiprocess mode: each process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and a scrape of any process sums them. The
process picks the mode when ``prometheus_client`` is first imported, so the
variable must be set before the process starts (the CLI does this).

Label values are fixed sets (never ids or user input), so each metric has a
bounded number of series.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOIN_KINDS = ("snapshot", "resume")
"""``JOINS`` labels: a first frame that is a snapshot, or a resume from ``after``."""

REFUSAL_REASONS = (
    "overload",
    "pool",
    "address_cap",
    "user_cap",
    "bad_token",
    "unknown_live",
    "banned",
)
"""``REFUSALS`` labels known up front (each starts at 0, so ``rate()`` sees the first one)."""

SOCKETS = Gauge(
    "livecart_ws_sockets",
    "open viewer sockets",
    multiprocess_mode="livesum",  # summed over the processes alive now
)

JOINS = Counter("livecart_ws_joins", "viewers joined a live, by kind", ["kind"])

JOIN_SECONDS = Histogram(
    "livecart_ws_join_seconds",
    "seconds from a viewer's connect to its first frame",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

REFUSALS = Counter(
    "livecart_ws_refusals", "viewer sockets refused or closed at join, by reason", ["reason"]
)

FRAMES_SENT = Counter("livecart_ws_frames_sent", "frames handed to viewer sockets")

EVICTIONS = Counter("livecart_ws_evictions", "viewers evicted for not keeping up")

SNAPSHOT_BUILDS = Counter("livecart_ws_snapshot_builds", "live snapshots built from the database")

for _kind in JOIN_KINDS:
    JOINS.labels(_kind)
for _reason in REFUSAL_REASONS:
    REFUSALS.labels(_reason)
