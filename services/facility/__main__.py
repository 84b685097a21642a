"""`python -m services.facility` runs the facility service."""

from hoinhap.cli import main

main(["run", "facility"])
