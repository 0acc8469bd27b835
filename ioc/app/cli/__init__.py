"""The ``ioc`` command line, one module per verb; ``ioc.app.cli.main`` is the entry point."""
