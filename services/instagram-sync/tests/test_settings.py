"""`INSTAGRAM_SYNC_EMBEDDED_WORKERS`: worker names or `none`; a misspelt name is refused at start, not left running
nowhere."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from instagram_sync.settings import WORKERS

from .conftest import make_settings


def test_none_embeds_no_worker() -> None:
    assert make_settings(INSTAGRAM_SYNC_EMBEDDED_WORKERS="none").embedded_workers == []


def test_named_workers_are_embedded_and_the_default_is_all() -> None:
    assert make_settings(INSTAGRAM_SYNC_EMBEDDED_WORKERS="relay, scheduler").embedded_workers == ["relay", "scheduler"]
    default = make_settings()
    default_values = type(default).model_fields["embedded_workers"].get_default(call_default_factory=True)
    assert default_values == list(WORKERS)


def test_a_misspelt_worker_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"unknown workers \['schedular'\]"):
        make_settings(INSTAGRAM_SYNC_EMBEDDED_WORKERS="relay,schedular")
