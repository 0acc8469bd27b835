"""Allow ``python -m ioc``."""

from ioc.cli import main

main()
