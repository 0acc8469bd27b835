"""The ``ioc`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="ioc: Intelligent Operations Center")


def main() -> None:
    """Run the ``ioc`` command line."""
    app()
