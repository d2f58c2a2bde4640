import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from distillguard.core.errors import ConfigError
from distillguard.store.online import LocalState, OnlineState, OnlineStateError, RedisState, open_state
from redis_server import free_port, running_redis


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


@pytest.fixture(params=["local", "redis"])
def make_state(request: pytest.FixtureRequest) -> Iterator:
    made: list[OnlineState] = []

    def make() -> OnlineState:
        if request.param == "local":
            state: OnlineState = LocalState(max_keys=1000)
        else:
            state = RedisState(request.getfixturevalue("redis_url"), prefix=f"t{uuid.uuid4().hex[:8]}:")
        made.append(state)
        return state

    yield make


def run(coro):
    return asyncio.run(coro)


def test_sliding_window_counts_and_weights_the_previous_bucket(make_state) -> None:
    async def go() -> None:
        state = make_state()
        for i in range(5):
            got = await state.hit("acct", 10.0, now=100.0 + i)
        assert got.count == 5 and got.reset_after == pytest.approx(6.0)
        # half-way through the next bucket: 1 new hit + half of the previous 5
        got = await state.hit("acct", 10.0, now=115.0)
        assert got.count == pytest.approx(3.5)
        got = await state.hit("acct", 10.0, now=135.0)
        assert got.count == 1
        await state.close()

    run(go())


def test_values_and_blobs(make_state) -> None:
    async def go() -> None:
        state = make_state()
        await state.put("a", b"1")
        await state.put("b", b"2", ttl_s=60)
        assert await state.get_many(["a", "b", "c"]) == [b"1", b"2", None]
        await state.delete("a")
        assert await state.get_many(["a"]) == [None]
        join = lambda old: (old or b"") + b"x"  # noqa: E731
        await state.merge_blob("blob", join, 60)
        assert await state.merge_blob("blob", join, 60) == b"xx"
        await state.close()

    run(go())


def test_redis_blob_merges_are_atomic_under_concurrency(redis_url: str) -> None:
    async def go() -> None:
        prefix = f"c{uuid.uuid4().hex[:8]}:"
        states = [RedisState(redis_url, prefix=prefix) for _ in range(4)]

        def add(old: bytes | None) -> bytes:
            time.sleep(0.001)  # a merge's own work between WATCH and EXEC (a statistics blob's: 0.65 ms here)
            return str(int(old or b"0") + 1).encode()

        await asyncio.gather(*(s.merge_blob("n", add, 60) for s in states for _ in range(10)))
        assert await states[0].get_many(["n"]) == [b"40"]
        for s in states:
            await s.close()

    run(go())


def test_local_state_is_bounded_and_expires() -> None:
    async def go() -> None:
        state = LocalState(max_keys=10)
        for i in range(50):
            await state.put(f"k{i}", b"v")
        assert len(state) == 10
        assert await state.get_many(["k0", "k49"]) == [None, b"v"]
        await state.put("short", b"v", ttl_s=-1)
        assert await state.get_many(["short"]) == [None]

    run(go())


def test_unreachable_redis_raises_a_clear_error() -> None:
    async def go() -> None:
        state = RedisState(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
        with pytest.raises(OnlineStateError, match="redis: ping failed"):
            await state.ping()
        with pytest.raises(OnlineStateError, match="redis: hit failed"):
            await state.hit("a", 1.0)
        await state.close()

    run(go())


def test_open_state_picks_the_backend() -> None:
    assert isinstance(open_state(None), LocalState)
    assert isinstance(open_state("redis://127.0.0.1:6379/0"), RedisState)
    with pytest.raises(ConfigError, match="unknown backend"):
        open_state("mongodb://x")
