"""The app: wiring that puts the parts together (CLI, runtimes, processes, site binding, services, benchmarks).

The arrows go one way: ``ioc.app`` imports ``dashboards``, ``ingest``, ``analytics``, ``camera_sim`` and the core
(the rest of ``ioc``); none of them imports ``ioc.app`` (docs/ARCHITECTURE.md, checked by import-linter).
"""
