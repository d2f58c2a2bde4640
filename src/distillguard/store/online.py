"""The shared online state of the gateway: in-process (bounded) or Redis, behind one protocol.

Generic primitives only (the per-account meaning lives above this layer):
sliding-window counters, byte values with a TTL, and mergeable blobs updated read-modify-write. Every call may raise
:class:`OnlineStateError` when the backend is unreachable; callers decide
whether to fail open or closed.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from distillguard.core.errors import ConfigError, StoreError


class OnlineStateError(StoreError):
    """The online state backend cannot be reached or refused an operation."""


class OnlineStateBusy(OnlineStateError):
    """A blob merge lost every race to other writers: nothing was written, it may be tried again."""


@dataclass(frozen=True, slots=True)
class WindowCount:
    """A sliding-window count after an increment, and seconds until the current bucket ends."""

    count: float
    reset_after: float


Merge = Callable[[bytes | None], bytes]


class OnlineState(Protocol):
    """The operations the gateway needs from its shared state."""

    async def hit(self, key: str, window_s: float, now: float | None = None) -> WindowCount:
        """Count one event under ``key`` and return the sliding-window estimate including it."""
        ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values of ``keys`` (None where absent or expired)."""
        ...

    async def put(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Set ``key`` (forever when ``ttl_s`` is None)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``."""
        ...

    async def merge_blob(self, key: str, merge: Merge, ttl_s: float) -> bytes:
        """Replace the blob of ``key`` by ``merge(old)`` atomically; return the new blob."""
        ...

    async def ping(self) -> None:
        """Raise :class:`OnlineStateError` if the backend is unreachable."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def _bucket(window_s: float, now: float) -> tuple[int, float]:
    """The fixed bucket ``now`` falls in and the fraction of it already elapsed."""
    position = now / window_s
    bucket = math.floor(position)
    return bucket, position - bucket


def _estimate(current: float, previous: float, elapsed: float) -> float:
    """Sliding-window estimate: the current bucket plus the unexpired share of the previous one."""
    return current + previous * (1.0 - elapsed)


class LocalState:
    """In-process state: one LRU of at most ``max_keys`` keys, each with an optional expiry."""

    def __init__(self, max_keys: int = 200_000) -> None:
        if max_keys < 1:
            raise ConfigError(f"online state: max_keys must be positive, not {max_keys}")
        self.max_keys = max_keys
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def _get(self, key: str, now: float) -> Any:
        entry = self._items.get(key)
        if entry is None:
            return None
        if entry[0] < now:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return entry[1]

    def _set(self, key: str, value: Any, ttl_s: float | None, now: float) -> None:
        self._items[key] = (math.inf if ttl_s is None else now + ttl_s, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_keys:
            self._items.popitem(last=False)

    async def hit(self, key: str, window_s: float, now: float | None = None) -> WindowCount:
        now = time.time() if now is None else now
        bucket, elapsed = _bucket(window_s, now)
        current = (self._get(f"{key}:{bucket}", now) or 0) + 1
        self._set(f"{key}:{bucket}", current, 2 * window_s, now)
        previous = self._get(f"{key}:{bucket - 1}", now) or 0
        return WindowCount(_estimate(current, previous, elapsed), window_s * (1.0 - elapsed))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.time()
        return [self._get(k, now) for k in keys]

    async def put(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        self._set(key, value, ttl_s, time.time())

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def merge_blob(self, key: str, merge: Merge, ttl_s: float) -> bytes:
        now = time.time()
        new = merge(self._get(key, now))
        self._set(key, new, ttl_s, now)
        return new

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


RETRY_BASE_S = 0.001
"""A merge's first wait after losing a race for its key; each further loss doubles the bound."""
RETRY_CAP_S = 0.1
"""The longest wait between two tries of a merge: 20 tries wait at most about 1.4 s in all."""


class RedisState:
    """State in Redis, shared by every gateway replica that names the same server and prefix.

    A blob is merged optimistically (``WATCH``, merge in Python, ``MULTI``/``EXEC``); a merge that loses the race
    waits a random time up to a bound doubled on each loss (exponential backoff with full jitter, capped at
    :data:`RETRY_CAP_S`), so that many replicas merging one hot key spread out instead of colliding again.
    """

    def __init__(self, url: str, prefix: str = "dg:", timeout_s: float = 0.5, max_retries: int = 20) -> None:
        self.prefix = prefix
        self.max_retries = max_retries
        self._redis = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def _run(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return await call()
        except (RedisError, OSError) as exc:
            raise OnlineStateError(f"redis: {what} failed: {exc}") from exc

    async def hit(self, key: str, window_s: float, now: float | None = None) -> WindowCount:
        now = time.time() if now is None else now
        bucket, elapsed = _bucket(window_s, now)
        current_key, previous_key = self._key(f"{key}:{bucket}"), self._key(f"{key}:{bucket - 1}")

        async def call() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(current_key)
                pipe.expire(current_key, math.ceil(2 * window_s))
                pipe.get(previous_key)
                return await pipe.execute()

        current, _, previous = await self._run("hit", call)
        return WindowCount(_estimate(int(current), int(previous or 0), elapsed), window_s * (1.0 - elapsed))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return list(await self._run("mget", lambda: self._redis.mget([self._key(k) for k in keys])))

    async def put(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        expiry = None if ttl_s is None else max(1, math.ceil(ttl_s))
        await self._run("set", lambda: self._redis.set(self._key(key), value, ex=expiry))

    async def delete(self, key: str) -> None:
        await self._run("delete", lambda: self._redis.delete(self._key(key)))

    async def merge_blob(self, key: str, merge: Merge, ttl_s: float) -> bytes:
        name = self._key(key)

        async def call() -> bytes:
            async with self._redis.pipeline(transaction=True) as pipe:
                for attempt in range(self.max_retries):
                    try:
                        await pipe.watch(name)
                        new = merge(cast("bytes | None", await pipe.get(name)))  # no decode_responses: bytes
                        pipe.multi()  # type: ignore[no-untyped-call]  # untyped in redis-py
                        pipe.set(name, new, ex=max(1, math.ceil(ttl_s)))
                        await pipe.execute()
                        return new
                    except WatchError:
                        await asyncio.sleep(random.uniform(0.0, min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt)))
            raise OnlineStateBusy(f"redis: {key}: too much contention after {self.max_retries} tries")

        merged: bytes = await self._run("merge", call)
        return merged

    async def ping(self) -> None:
        await self._run("ping", self._redis.ping)

    async def close(self) -> None:
        await self._redis.aclose()


def open_state(url: str | None, *, max_keys: int = 200_000, prefix: str = "dg:") -> OnlineState:
    """``LocalState`` for None or ``memory://``, ``RedisState`` for ``redis://`` / ``rediss://`` / ``unix://``."""
    if url is None or url == "memory://":
        return LocalState(max_keys=max_keys)
    if url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        return RedisState(url, prefix=prefix)
    raise ConfigError(f"online state: unknown backend {url!r}; use memory:// or redis://HOST:PORT/DB")
