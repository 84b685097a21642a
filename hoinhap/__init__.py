"""The suite's command line and its one-machine runner."""
