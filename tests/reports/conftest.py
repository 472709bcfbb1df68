"""Fixtures of the report pages' tests that work on reports made by the services."""

from __future__ import annotations

import pytest

from tests.helpers.reports import Org, blob_store, build_org


@pytest.fixture
def org(db) -> Org:
    with db() as session:
        return build_org(session)


@pytest.fixture
def blobs(db):
    return blob_store(db.app)
