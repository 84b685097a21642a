"""`python -m services.intake` runs the intake service."""

from hoinhap.cli import main

main(["run", "intake"])
