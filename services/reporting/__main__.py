"""`python -m services.reporting` runs the reporting service."""

from hoinhap.cli import main

main(["run", "reporting"])
