"""One Redis client for the process, used from worker threads, plus the key layout and the Lua
scripts the write-behind relies on.

redis-py's asyncio client needs an asyncio loop, so the synchronous client runs in
``trio.to_thread`` behind a CapacityLimiter sized to its connection pool (the same shape as the
database engine). Every command batch is one pipeline: one round trip per call.

Key layout (``<p>`` is ``redis.key_prefix``):

==================================  ===========================================================
``<p>:wb:pending``                  list of pending entries (JSON, newest on the left)
``<p>:wb:processing:<flusher>``     entries a flusher took and has not committed yet
``<p>:wb:flushers``                 set of flusher ids that may own a processing list
``<p>:wb:alive:<flusher>``          a flusher's liveness key (PX ``lock_ttl_s``)
``<p>:wb:lock``                     the flush lock (token, PX ``lock_ttl_s``)
``<p>:art:<ulid>``                  the read cache: one encoded row (PX ``cache_ttl_s``)
``<p>:catalog``, ``<p>:catalog:lock``  the shared ``/models`` payload and its refresh lock
``<p>:cost:<owner>:<ulid>``         a cost snapshot (EX ``cost_snapshot_ttl_s``)
==================================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
import trio
from redis.commands.core import Script

T = TypeVar("T")

# Delete the key only if it still holds our token: a lock that expired and was taken by
# another flusher must not be released by us.
RELEASE_IF_OWNER: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

EXTEND_IF_OWNER: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# Move a processing list back to the tail of pending (its oldest entry popped first again).
REQUEUE_ALL: Final = """
local moved = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do moved = moved + 1 end
return moved
"""

# Correct the place of a cached row (written early, its anchor known later), owner-checked.
PLACE_CACHED: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local row = cjson.decode(raw)
if row['owner'] ~= ARGV[1] then return 0 end
row['position'] = tonumber(ARGV[2])
row['anchor'] = ARGV[3]
redis.call('SET', KEYS[1], cjson.encode(row), 'KEEPTTL')
return 1
"""

# Drop a cached row once its owner consumed it (``next_reply`` reasoning), owner-checked.
FORGET_CACHED: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
if cjson.decode(raw)['owner'] ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


@dataclass(frozen=True)
class RedisKeys:
    prefix: str

    @property
    def pending(self) -> str:
        return f"{self.prefix}:wb:pending"

    @property
    def flushers(self) -> str:
        return f"{self.prefix}:wb:flushers"

    @property
    def lock(self) -> str:
        return f"{self.prefix}:wb:lock"

    def processing(self, flusher: str) -> str:
        return f"{self.prefix}:wb:processing:{flusher}"

    def alive(self, flusher: str) -> str:
        return f"{self.prefix}:wb:alive:{flusher}"

    def artifact(self, artifact_id: str) -> str:
        return f"{self.prefix}:art:{artifact_id}"

    @property
    def catalog(self) -> str:
        return f"{self.prefix}:catalog"

    @property
    def catalog_lock(self) -> str:
        return f"{self.prefix}:catalog:lock"

    def cost(self, owner: str, snapshot_id: str) -> str:
        return f"{self.prefix}:cost:{owner}:{snapshot_id}"


class RedisLink:
    """The process's Redis client and the thread limiter that guards its pool.

    Synopsis::

        link = RedisLink.open(url, key_prefix="pipe-service", pool_size=8, op_timeout_s=2)
        depth = await link.run_sync(lambda r: r.llen(link.keys.pending))
        link.close()
    """

    def __init__(self, client: redis.Redis, keys: RedisKeys, *, pool_size: int) -> None:
        self.client = client
        self.keys = keys
        self._limiter = trio.CapacityLimiter(pool_size)
        self.release_if_owner = client.register_script(RELEASE_IF_OWNER)
        self.extend_if_owner = client.register_script(EXTEND_IF_OWNER)
        self.requeue_all = client.register_script(REQUEUE_ALL)
        self.place_cached = client.register_script(PLACE_CACHED)
        self.forget_cached = client.register_script(FORGET_CACHED)

    @classmethod
    def open(cls, url: str, *, key_prefix: str, pool_size: int, op_timeout_s: float) -> RedisLink:
        client = redis.Redis.from_url(
            url,
            max_connections=pool_size,
            socket_timeout=op_timeout_s,
            socket_connect_timeout=op_timeout_s,
            health_check_interval=30,
        )
        return cls(client, RedisKeys(key_prefix), pool_size=pool_size)

    async def run_sync(self, fn: Callable[[redis.Redis], T]) -> T:
        """Run ``fn(client)`` in a worker thread (raises ``redis.RedisError`` subclasses)."""
        return await trio.to_thread.run_sync(fn, self.client, limiter=self._limiter)

    async def run_script(self, script: Script, *, keys: list[str], args: list[Any]) -> Any:
        """Run a registered Lua script in a worker thread."""
        return await self.run_sync(partial(_call_script, script, keys, args))

    def close(self) -> None:
        self.client.close()


def _call_script(script: Script, keys: list[str], args: list[Any], client: redis.Redis) -> Any:
    return script(keys=keys, args=args, client=client)


def redact_redis_url(url: str) -> str:
    """``url`` without its password (for logs and ``/status``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
