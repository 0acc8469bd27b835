"""Shapes the demo's simulators draw from (``hydrograph``: a rain event and the river's answer to it)."""
