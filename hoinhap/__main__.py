"""`python -m hoinhap` is the `hoinhap` command."""

from hoinhap.cli import main

main()
