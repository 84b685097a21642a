"""Read responses kept until the views change: emptied when this process commits to them (a batch, a target), and
kept at most `seconds`, so another replica's commits, or a rebuild's swap, show within that time."""

from __future__ import annotations

import time
from collections.abc import Hashable


class ReadCache:
    """Rendered responses by request; `version` counts this process's commits to the views."""

    def __init__(self, seconds: float, size: int = 8192) -> None:
        self.seconds = seconds
        self.size = size
        self.version = 0
        self._entries: dict[Hashable, tuple[float, bytes]] = {}

    def changed(self) -> None:
        """The views (or the targets) changed: nothing rendered before is current."""
        self.version += 1
        self._entries.clear()

    def get(self, key: Hashable) -> bytes | None:
        found = self._entries.get(key)
        if found is None or time.monotonic() - found[0] > self.seconds:
            return None
        return found[1]

    def put(self, version: int, started: float, key: Hashable, body: bytes) -> None:
        """Keep `body`, rendered from reads begun at `started` (monotonic) when the version was `version`, unless the
        views changed since: a read racing a commit is served, not kept."""
        if version != self.version or self.seconds <= 0:
            return
        if len(self._entries) >= self.size:
            self._entries.pop(next(iter(self._entries)))  # the oldest
        self._entries[key] = (started, body)
