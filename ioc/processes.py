"""Every long-running process of the distributed mode, as the ``ioc`` command that starts it.

``docker-compose.yml`` runs each as its own service; a test checks that none is missing there.
"""

from __future__ import annotations

from ioc.runtime.faust_app import WORKERS

ONE_SHOT: dict[str, tuple[str, ...]] = {
    "migrate": ("db", "migrate"),
}
PROCESSES: dict[str, tuple[str, ...]] = {
    "ingest-mqtt": ("ingest", "mqtt"),
    "ingest-camera": ("ingest", "camera"),
    **{f"worker-{name}": ("worker", name) for name in WORKERS},
    "dashboard": ("dashboard",),
}
