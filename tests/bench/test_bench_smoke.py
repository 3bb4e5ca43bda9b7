"""Every benchmark in ``bench/`` runs, at tiny sizes, so none rots unnoticed.

Each entry point runs as ``python -m bench.<name>`` in a subprocess from the repository
root, with its servers on free ports, its files in the test's temp dir and, where it
needs them, PostgreSQL scratch databases named after this worker's test database and a
redis-server of the test's own (skipped without them, like the rest of the suite). A run
must exit 0 and print its result lines, the reference's included. The numbers at these
sizes mean nothing; the invariants they check (nothing oversold, every order accepted
once) still hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench import benchkit
from tests import services

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINTS = ["fanout", "flashsale", "fulfillment", "guessing", "memprofile", "fanout_micro",
                "refservers", "naive_shop", "orderload", "serverwatch", "auction",
                "comments", "giveaways", "documents"]  # fmt: skip


def run_bench(module: str, *args: str, timeout: float = 120) -> str:
    """``python -m bench.<module> args`` from the repository root; its stdout. Fails with
    the tail of its stderr unless it exits 0."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def rows(stdout: str) -> dict[str, list[str]]:
    """Printed Markdown tables' rows by their first two cells ("<a> <b>"); the first
    table wins where two have a row for the same pair."""
    found = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) > 2:
            found.setdefault(f"{cells[0]} {cells[1]}", cells)
    return found


def results(path: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(path.read_text())["results"]
    return found


@pytest.fixture
def service_flags(postgres_url: str, own_redis: services.RedisServer) -> Callable[[str], list[str]]:
    """``--pg``, ``--redis`` and ``--scratch-db`` for a benchmark's PostgreSQL and Redis
    variants: this worker's PostgreSQL server, scratch databases named after its test
    database plus a suffix, and a redis-server of the test's own (the run flushes it)."""
    base, _, name = postgres_url.partition("?")[0].rpartition("/")
    pg = base.replace("postgresql+asyncpg://", "postgresql://") + "/"
    return lambda suffix: [
        "--pg", pg, "--redis", own_redis.url, "--scratch-db", f"{name}_bench_{suffix}",
    ]  # fmt: skip


# ---------------------------------------------------------------- fast: the one percentile


def test_percentile_is_nearest_rank() -> None:
    hundred = [float(x) for x in range(100, 0, -1)]  # any order
    assert benchkit.percentile(hundred, 99) == 99.0  # the 99th smallest, not the largest
    assert benchkit.percentile(hundred, 50) == 50.0
    assert benchkit.percentile(hundred, 1) == 1.0
    assert benchkit.percentile(hundred, 100) == 100.0
    thousand = range(1, 1001)
    assert benchkit.percentile(thousand, 99.9) == 999
    assert benchkit.percentile(thousand, 7) == 70  # 7 % of 1,000 despite 0.07 * 1000 > 70
    assert benchkit.percentile([5.0], 99) == 5.0
    with pytest.raises(ValueError):
        benchkit.percentile([], 50)
    with pytest.raises(ValueError):
        benchkit.percentile([1.0], 0)


def test_summary_ignores_missing_values() -> None:
    assert benchkit.summary([None, 3.0, 1.0, None, 2.0], (50, 90)) == {
        "p50": 2.0, "p90": 3.0, "max": 3.0, "mean": 2.0,
    }  # fmt: skip
    assert benchkit.summary([None]) == {"p50": None, "p99": None, "max": None, "mean": None}


# ---------------------------------------------------------------- slow: each entry point runs


@pytest.mark.slow
@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_help(module: str) -> None:
    assert "usage:" in run_bench(module, "--help", timeout=60)


@pytest.mark.slow
def test_fanout(tmp_path: Path) -> None:
    variants = ["livecart", "livecart-uvicorn", "ref-broadcast", "ref-naive", "ref-floor"]
    out = run_bench(
        "fanout", "--viewers", "3", "--variants", *variants, "--pins", "1", "--idle", "0.2",
        "--pin-interval", "0", "--out", str(tmp_path / "f.json"), "--logs", str(tmp_path),
        "--watch",
    )  # fmt: skip
    table = rows(out)
    for variant in variants:
        cells = table[f"3 {variant}"]
        assert cells[2] == "3/3" and cells[6] == "3/3", cells  # joined, got the pin
        assert cells[10] == "0", cells  # no traceback in the server's log
    assert table["3 ref-broadcast"][-1] == "1.00×"  # the reference of the ratios
    assert list(tmp_path.glob("*.watch.log"))


@pytest.mark.slow
def test_fanout_two_workers(tmp_path: Path, own_redis: services.RedisServer) -> None:
    out = run_bench(
        "fanout", "--viewers", "3", "--variants", "livecart-workers2", "ref-broadcast",
        "--pins", "1", "--idle", "0.2", "--pin-interval", "0", "--redis", own_redis.url,
        "--out", str(tmp_path / "f.json"), "--logs", str(tmp_path),
    )  # fmt: skip
    table = rows(out)
    assert table["3 livecart-workers2"][2:7:4] == ["3/3", "3/3"]
    assert table["3 ref-broadcast"][2] == "3/3"


FLASH_SALE = ["--buyers", "20", "--stock", "5", "--warmup", "4", "--over", "0.2"]


@pytest.mark.slow
def test_flashsale_sqlite(tmp_path: Path) -> None:
    out = run_bench("flashsale", "--variants", "sqlite", *FLASH_SALE, "--out",
                    str(tmp_path / "fs.json"))  # fmt: skip
    assert "sqlite 22" in rows(out)  # 20 buyers + 2 duplicates
    (sale,) = results(tmp_path / "fs.json")
    assert "error" not in sale, sale
    assert sale["db"]["orders"] == 5 and sale["oversold_units"] == 0
    assert sale["duplicate_orders"] == 0 and sale["burst"]["status_5xx"] == 0


@pytest.mark.slow
def test_flashsale_postgres_redis_and_naive(
    tmp_path: Path, service_flags: Callable[[str], list[str]]
) -> None:
    out = run_bench("flashsale", "--variants", "pg-redis", "naive-pg", *FLASH_SALE,
                    "--web-workers", "1", "--no-calibrate", *service_flags("fs"),
                    "--out", str(tmp_path / "j"))  # fmt: skip
    assert {"pg-redis 22", "naive-pg 22"} <= rows(out).keys()
    livecart, naive = results(tmp_path / "j")
    assert "error" not in livecart and "error" not in naive, (livecart, naive)
    assert livecart["oversold_units"] == 0 and livecart["duplicate_orders"] == 0
    assert naive["burst"]["statuses"].get("201", 0) >= 5  # the reference sells


@pytest.mark.slow
def test_fulfillment_sqlite(tmp_path: Path) -> None:
    out = run_bench("fulfillment", "--orders", "50", "--variants", "sqlite-local",
                    "--out", str(tmp_path / "q.json"))  # fmt: skip
    assert rows(out)["sqlite-local in-process"][2] == "50"
    (run,) = results(tmp_path / "q.json")
    assert run["checks"]["accepted"] == 50 and run["checks"]["orders_accepted_twice"] == 0


@pytest.mark.slow
def test_fulfillment_postgres_redis(
    tmp_path: Path, service_flags: Callable[[str], list[str]]
) -> None:
    out = run_bench("fulfillment", "--orders", "50", "--variants", "pg-redis-1", "pg-local",
                    *service_flags("q"), "--out", str(tmp_path / "q"))  # fmt: skip
    assert {"pg-redis-1 1", "pg-local in-process"} <= rows(out).keys()
    for run in results(tmp_path / "q"):
        assert run["checks"]["accepted"] == 50, run
        assert run["checks"]["outbox_not_done"] == 0 and run["checks"]["dead_letters"] == 0


@pytest.mark.slow
def test_guessing(tmp_path: Path) -> None:
    out = run_bench("guessing", "--seconds", "0.5", "--guessers", "2", "--out",
                    str(tmp_path / "g.json"))  # fmt: skip
    table = rows(out)
    assert table["throttled one-account"][2]  # passwords were checked
    assert table["unthrottled (reference) one-account"][5] == "200"  # the victim still logs in
    assert "tracebacks in the server logs: 0" in out


@pytest.mark.slow
def test_memprofile() -> None:
    # Without tracemalloc: under it, start-up alone takes tens of seconds.
    out = run_bench("memprofile", "--viewers", "5", "--concurrency", "5", "--no-trace")
    assert "KB/viewer" in out and "GC-tracked objects" in out


@pytest.mark.slow
def test_fanout_micro() -> None:
    out = run_bench("fanout_micro", "--viewers", "50", "--repeat", "3")
    assert "livecart hub" in out and "bare loop (ref floor)" in out


@pytest.mark.slow
def test_auction_sqlite(tmp_path: Path) -> None:
    # The shortest auction the contract allows (5 s); the bidders start with it.
    out = run_bench("auction", "--variants", "sqlite", "--watchers", "20", "--bidders", "10",
                    "--duration", "5", "--window", "5", "--extend", "2", "--sample", "5",
                    "--out", str(tmp_path / "a.json"))  # fmt: skip
    assert rows(out)["sqlite 20"][-1] == "yes"  # the replay, frames and log checks held
    (run,) = results(tmp_path / "a.json")
    assert run["bids"]["sent"] == 30 and run["bids"]["answered"] == 30
    assert run["auction"]["status"] == "sold" and run["auction"]["bids"] >= 1
    assert run["replay"]["history"] == run["auction"]["bids"] == run["latency"]["matched"]
    assert run["reference"]["delivered"] == 5 and run["reference"]["pings"]["answered"] == 30


@pytest.mark.slow
def test_comments_sqlite(tmp_path: Path) -> None:
    out = run_bench("comments", "--variants", "sqlite", "--buyers", "30", "--units", "5",
                    "--out", str(tmp_path / "c.json"))  # fmt: skip
    assert rows(out)["sqlite 30"][-1] == "yes"  # orders, places, list and log checks held
    (run,) = results(tmp_path / "c.json")
    assert (run["checks"]["orders"], run["checks"]["waitlisted"]) == (5, 25)
    assert run["answer_ms"]["p50"] > 0 and run["reference_chat_ms"]["p50"] > 0


@pytest.mark.slow
def test_giveaways_sqlite(tmp_path: Path) -> None:
    out = run_bench("giveaways", "--variants", "sqlite", "--viewers", "30",
                    "--out", str(tmp_path / "g.json"))  # fmt: skip
    assert rows(out)["sqlite 30"][-1] == "yes"  # entries, the draw, the prize and log checks held
    (run,) = results(tmp_path / "g.json")
    assert (run["checks"]["entries"], run["checks"]["entrants"]) == (30, 30)
    assert run["checks"]["winner_recomputed"] and run["checks"]["winner_prize_orders"] == 1
    assert run["answer_ms"]["p50"] > 0 and run["reference_chat_ms"]["p50"] > 0
    assert run["draw"]["ended_ms"]["p50"] > 0


@pytest.mark.slow
def test_documents_sqlite(tmp_path: Path) -> None:
    out = run_bench("documents", "--variants", "sqlite", "--orders", "30", "--products", "4",
                    "--requests", "2", "--out", str(tmp_path / "d.json"))  # fmt: skip
    assert rows(out)["sqlite 30"][-1] == "yes"  # every order on every PDF, board and log checks
    (run,) = results(tmp_path / "d.json")
    assert [c["order_lines"] for c in run["pdf_checks"]] == [30, 30]
    assert all(c["headline"] and c["headings_match"] for c in run["pdf_checks"])
    assert run["board_answers"] == [[200, "application/json", 30, 30]] * 2  # the reference ran
    assert run["pick_list_ms"]["p50"] > 0 and run["board_ms"]["p50"] > 0
