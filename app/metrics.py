"""``GET /metrics``: every livecart metric in the Prometheus text format.

The metrics themselves live with what they measure (``live.metrics``,
``checkout.metrics``); this module renders them, adds the fulfillment backlog
read at scrape time, and sets up multiprocess mode.

**One process.** The default registry is rendered as is (with
``prometheus_client``'s own ``process_*`` and ``python_*`` metrics).

**Several processes** (``livecart serve --workers N``). A scrape reaches one
worker, so every worker writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and the worker answering sums them all
(``MultiProcessCollector``): counters and histograms add up, and
``livecart_ws_sockets`` sums over the processes alive now. ``prometheus_client``
decides on multiprocess mode when it is imported, so the variable must be in
the environment before a worker starts: ``share_between_workers`` (called by
the CLI before uvicorn spawns them) makes a fresh directory for one run.

**The backlog** (``livecart_fulfillment_*``) is read from the database and
Redis by the process answering the scrape, just before rendering, and added
as plain values of that scrape (no files, nothing shared): every process sees
the same queue.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import live.metrics  # noqa: F401  (registers the hub's metrics in every web process)
from app.state import AppState
from checkout import metrics as checkout_metrics
from checkout import orders
from common.times import utcnow

log = logging.getLogger("livecart")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
READ_TIMEOUT_S = 2.0

# Counters' ``*_created`` series double the output and are not kept in multiprocess
# mode anyway: left out in both, so the two modes expose the same series.
disable_created_metrics()  # type: ignore[no-untyped-call]


def share_between_workers(workers: int) -> None:
    """Before ``uvicorn.run`` with ``workers`` processes: unless ``PROMETHEUS_MULTIPROC_DIR``
    is set already, point it at a fresh directory (removed when this process exits).
    The workers inherit the variable and so start in multiprocess mode."""
    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        return
    path = tempfile.mkdtemp(prefix="livecart-metrics-")
    os.environ[MULTIPROC_ENV] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)


async def scrape(st: AppState) -> bytes:
    """The whole exposition: the registered metrics, then the backlog read now."""
    backlog = await backlog_metrics(st)
    return render(backlog)


def render(extra: Iterable[Metric] = ()) -> bytes:
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        forget_dead_processes(path)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    now = CollectorRegistry()
    now.register(_Values(list(extra)))
    return body + generate_latest(now)


class _Values(Collector):
    """Metric families computed before this scrape, rendered as they are."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def forget_dead_processes(path: str) -> None:
    """Drop the live gauges (``livecart_ws_sockets``) of workers that have died, so a
    crashed worker's sockets stop counting (``multiprocess.mark_process_dead``)."""
    pids = {
        int(m.group(1)) for f in Path(path).glob("gauge_live*.db")
        if (m := _LIVE_GAUGE_FILE.fullmatch(f.name))
    }  # fmt: skip
    for pid in pids - {os.getpid()}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, another user's
            pass


async def backlog_metrics(st: AppState) -> list[Metric]:
    """The fulfillment backlog as gauges. A source that fails to answer within
    ``READ_TIMEOUT_S`` is left out of this scrape (and logged), not the whole scrape."""
    families: list[Metric] = []
    try:
        async with st.db.read() as session:
            outbox = await asyncio.wait_for(
                checkout_metrics.outbox_backlog(session), READ_TIMEOUT_S
            )
            late = await asyncio.wait_for(orders.count_late(session, utcnow()), READ_TIMEOUT_S)
    except Exception as exc:
        log.warning("metrics: reading the fulfillment outbox failed: %r", exc)
    else:
        families += [
            _gauge("livecart_fulfillment_queue_depth",
                   "orders placed and not yet accepted by fulfillment", outbox.depth),
            _gauge("livecart_fulfillment_queue_lag_seconds",
                   "age of the oldest order not yet accepted by fulfillment", outbox.oldest_s),
            _gauge("livecart_orders_late",
                   "orders not shipped and past their ship-by time", late),
        ]  # fmt: skip
    queue = st.queue
    if queue is None:
        return families
    try:
        stream = await asyncio.wait_for(
            checkout_metrics.stream_backlog(queue.redis, queue.stream, queue.group),
            READ_TIMEOUT_S,
        )
    except Exception as exc:
        log.warning("metrics: reading the fulfillment stream failed: %r", exc)
        return families
    entries = GaugeMetricFamily(
        "livecart_fulfillment_stream_entries",
        "fulfillment stream entries not yet acknowledged, by state", labels=["state"],
    )  # fmt: skip
    lag = GaugeMetricFamily(
        "livecart_fulfillment_stream_lag_seconds",
        "age of the oldest fulfillment stream entry in each state", labels=["state"],
    )  # fmt: skip
    for state_name, backlog in stream.items():
        entries.add_metric([state_name], backlog.depth)
        lag.add_metric([state_name], backlog.oldest_s)
    return [*families, entries, lag]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
