"""`python -m services.aftercare` runs the aftercare service."""

from hoinhap.cli import main

main(["run", "aftercare"])
