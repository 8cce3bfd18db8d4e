from __future__ import annotations

import pytest
from pydantic import ValidationError

from store.settings import Settings


def test_rollup_minutes_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOPS_ROLLUP_MINUTES", "1")

    assert Settings().rollup_minutes == 1


def test_rollup_minutes_other_than_1_or_5_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOPS_ROLLUP_MINUTES", "3")

    with pytest.raises(ValidationError):
        Settings()
