"""`__all__` lists exactly the public names each package exposes (ruff RUF022 keeps it sorted)."""

import importlib
import types

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "intplat_common",
        "intplat_common.alerts",
        "intplat_common.consumer",
        "intplat_common.credentials",
        "intplat_common.db",
        "intplat_common.effects",
        "intplat_common.events",
        "intplat_common.service",
        "intplat_sandboxes.framework",
        "intplat_sandboxes.postmark",
    ],
)
def test_all_matches_public_names(module: str) -> None:
    mod = importlib.import_module(module)
    public = {
        name
        for name, value in vars(mod).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert len(mod.__all__) == len(set(mod.__all__)), "no name listed twice"
    assert set(mod.__all__) == public
