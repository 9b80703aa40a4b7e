"""`python -m cardiosbi` is the same as the `cardiosbi` command."""

from cardiosbi.cli.main import main

main()
