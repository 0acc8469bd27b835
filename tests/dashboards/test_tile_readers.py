"""The table from tile kind to reader (dashboards.data.tiles) that replaced the wall's if/elif per kind."""

from __future__ import annotations

from typing import get_args

from dashboards.data import TILE_READERS
from ioc.config.models import TileKind


def test_every_tile_kind_has_a_reader() -> None:
    """A kind added to the config's TileKind without a reader would be a KeyError on the wall."""
    assert set(TILE_READERS) == set(get_args(TileKind))
