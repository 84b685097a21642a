"""Reporting's write half: the projector that turns events into the views, and the rebuild that replays them."""
