"""A Redis that refuses every write, as one at its ``maxmemory`` under ``noeviction`` does.

Simulated: setting a tiny ``maxmemory`` would change the server's global settings, which
other tests running at the same time rely on."""

from __future__ import annotations

import redis

OOM = "command not allowed when used memory > 'maxmemory'."


class OutOfMemory:
    """A client whose writes are refused (OOM); reads go to the real client."""

    def __init__(self, client) -> None:
        self._client = client

    def set(self, *_args, **_kwargs):
        raise redis.exceptions.OutOfMemoryError(OOM)

    def pipeline(self):
        return RefusedPipeline(self._client.pipeline())

    def __getattr__(self, name: str):
        return getattr(self._client, name)


class RefusedPipeline:
    """Its commands are queued as ever, and refused when sent (as Redis refuses a new key)."""

    def __init__(self, pipe) -> None:
        self._pipe = pipe

    def execute(self):
        self._pipe.reset()
        raise redis.exceptions.OutOfMemoryError(OOM)

    def __getattr__(self, name: str):
        return getattr(self._pipe, name)


class Unreachable:
    """A client of a Redis that is down: every command fails to connect."""

    def __getattr__(self, name: str):
        def refused(*_args, **_kwargs):
            raise redis.exceptions.ConnectionError("Error 111 connecting to Redis")

        return refused
