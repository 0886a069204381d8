"""The progress bar's visibility rules (wpgd.numerics.core.fileio.progress_bar): a terminal shows it,
WPGD_PROGRESS=1 forces it in logs and pipes, WPGD_PROGRESS=0 hides it, and a finished bar stays."""

import io
import sys

import pytest

from wpgd.numerics.core.fileio import progress_bar


class _Stderr(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    "tty, setting, enabled, shown",
    [
        (True, None, True, True),
        (False, None, True, False),  # a pipe: hidden unless forced
        (False, "1", True, True),
        (True, "0", True, False),
        (True, "1", False, False),  # the caller's enabled=False wins (e.g. --json)
    ],
)
def test_visibility(monkeypatch, tty, setting, enabled, shown):
    err = _Stderr(tty)
    monkeypatch.setattr(sys, "stderr", err)
    if setting is None:
        monkeypatch.delenv("WPGD_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("WPGD_PROGRESS", setting)
    with progress_bar(3, "final evaluation", enabled=enabled) as bar:
        bar.update(3)
    text = err.getvalue()
    assert ("final evaluation" in text) is shown
    if shown:  # the finished bar is left on screen with its final count
        assert text.rstrip().endswith("\n") is False and "3/3" in text.splitlines()[-1]
