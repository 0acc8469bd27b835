"""Allow ``python -m ioc``."""

from ioc.app.cli.main import main

main()
