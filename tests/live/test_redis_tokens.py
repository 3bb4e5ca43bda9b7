"""Rate-limit tokens from Redis taken together (``RedisBroker.take_token``): every take
waiting at one moment goes in one pipeline, and the shared bucket still holds exactly,
across two brokers (two processes) on one Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from live.redis_broker import RedisBroker


@pytest.fixture
async def brokers(redis_url: str) -> AsyncIterator[tuple[RedisBroker, RedisBroker]]:
    a, b = RedisBroker(redis_url), RedisBroker(redis_url)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_a_rush_of_takes_from_two_processes_gets_exactly_the_burst(
    brokers: tuple[RedisBroker, RedisBroker],
) -> None:
    a, b = brokers
    waits = await asyncio.gather(
        *(broker.take_token("tokens:rush", 0.001, 10) for _ in range(30) for broker in (a, b))
    )
    assert sum(1 for w in waits if w == 0.0) == 10
    assert all(w > 0 for w in waits if w != 0.0)


async def test_takes_asked_together_share_one_round_trip(
    brokers: tuple[RedisBroker, RedisBroker], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _b = brokers
    pipelines: list[int] = []
    real = a.redis.pipeline

    def counted(*args: object, **kwargs: object) -> object:
        pipe = real(*args, **kwargs)  # type: ignore[arg-type]
        execute = pipe.execute

        async def execute_counted(*eargs: object, **ekwargs: object) -> object:
            pipelines.append(len(pipe.command_stack))
            return await execute(*eargs, **ekwargs)  # type: ignore[arg-type]

        pipe.execute = execute_counted  # type: ignore[method-assign,assignment]
        return pipe

    monkeypatch.setattr(a.redis, "pipeline", counted)
    waits = await asyncio.gather(*(a.take_token(f"tokens:own:{i}", 1.0, 1) for i in range(200)))
    assert waits == [0.0] * 200  # each its own bucket: all allowed
    assert pipelines == [200]


async def test_a_take_whose_asker_left_does_not_disturb_the_others(
    brokers: tuple[RedisBroker, RedisBroker],
) -> None:
    a, _b = brokers
    gone = asyncio.ensure_future(a.take_token("tokens:gone", 1.0, 1))
    stay = [asyncio.ensure_future(a.take_token(f"tokens:stay:{i}", 1.0, 1)) for i in range(5)]
    await asyncio.sleep(0)  # all five asked; the pipeline is on its way
    gone.cancel()
    assert await asyncio.gather(*stay) == [0.0] * 5
    assert gone.cancelled()
    assert await a.take_token("tokens:after", 1.0, 1) == 0.0
