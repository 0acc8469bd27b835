"""The store's tests run on both database flavours: one plain database and one with TimescaleDB."""

from __future__ import annotations

import pytest

from ioc.store.migrate import FLAVORS, Flavor


@pytest.fixture(scope="module", params=FLAVORS)
def db_flavour(request: pytest.FixtureRequest) -> Flavor:
    """Each module's database once plain, once with TimescaleDB; the test id says which."""
    flavour: Flavor = request.param
    return flavour
