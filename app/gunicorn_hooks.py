"""gunicorn server hooks, for ``portal serve`` and ``deploy/gunicorn.conf.py`` alike."""

from __future__ import annotations

import os
from typing import Any


def on_starting(server: Any) -> None:
    """One seed of the rate-limit keys for every worker this master starts (``daily_key``):
    they inherit the environment; the seed is never written to disk."""
    from app.security.daily_key import new_seed

    os.environ.setdefault("PORTAL_RATELIMIT_SEED", new_seed())


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
