"""A tool the deployment checks need and this machine lacks: the test fails saying how to get it."""

from __future__ import annotations

import pytest

from tests.ops.conftest import required_tool


def test_a_missing_tool_fails_saying_how_to_install_it() -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        required_tool("promtool-that-is-not-there", "prometheus")
    assert str(failed.value) == (
        "promtool-that-is-not-there not found: install Debian's prometheus package (`sudo apt-get install "
        "prometheus`), or run `bash .ci/run`, which installs what the tests need and runs them"
    )
