"""docs/ENVIRONMENT.md: one row per Settings field, in order, with config.py's name and default."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_core import PydanticUndefined

from portal.config import Settings, _variable_name
from tests.conftest import REPO

ROW = re.compile(r"^\| `(?P<name>[A-Z0-9_]+)` \| (?P<default>[^|]+?) \| (?P<meaning>.+) \|$")


def _doc_rows() -> list[tuple[str, str, str]]:
    text = (REPO / "docs" / "ENVIRONMENT.md").read_text(encoding="utf-8")
    return [(m["name"], m["default"], m["meaning"]) for m in map(ROW.match, text.splitlines()) if m]


def _documented_default(value: object) -> str:
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f"`./{value}`" if not value.is_absolute() else f"`{value}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def test_every_field_documented_in_order_with_its_default() -> None:
    expected = [
        (_variable_name(name), _documented_default(f.default)) for name, f in Settings.model_fields.items()
    ]
    documented = [(name, default) for name, default, _meaning in _doc_rows()]
    assert documented == expected


def test_every_row_says_what_the_variable_does() -> None:
    for name, _default, meaning in _doc_rows():
        assert len(meaning.split()) >= 5, f"{name}: say what it does"
