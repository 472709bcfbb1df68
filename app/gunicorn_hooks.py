"""gunicorn server hooks, for ``portal serve`` and ``deploy/gunicorn.conf.py`` alike."""

from __future__ import annotations

from typing import Any


def nworkers_changed(server: Any, new_value: int, old_value: int | None) -> None:
    """Keep the number of workers while rate limits are counted in memory (SIGTTIN adds one).

    Each worker would count requests apart; starting several is refused before gunicorn
    starts (``portal serve``, ``on_starting``), and this refuses them once it runs.
    """
    if old_value is None or new_value <= max(old_value, 1):
        return
    from app import create_app
    from app.security.ratelimit import storage_problem

    problem = storage_problem(create_app("console").config, new_value)
    if problem:
        server.log.error("Refused %d workers: %s", new_value, problem)
        server.num_workers = old_value
