"""`python -m hoinhap` is the `hoinhap` command."""

from hoinhap.cli import main

if __name__ == "__main__":  # not when a rebuild's replaying process (spawned) imports it
    main()
