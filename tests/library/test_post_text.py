"""Post text templates (DESIGN 4.14): filled per output; a missing field leaves no empty `@` or dangling
punctuation; a template with an unknown field, or on a version-1 config, is refused with its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.brand_loader import BrandConfigError, parse_brand_config
from portal.library.post_text import fill_post_text

FULL = {"title": "Cat falls", "uploader": "catlover99", "url": "https://x.test/v/1", "brand": "FallClips",
        "hashtags": "#fail #cats"}  # fmt: skip


@pytest.mark.parametrize(
    ("template", "missing", "expected"),
    [
        ("{title} | via @{uploader}", (), "Cat falls | via @catlover99"),
        ("{title} | via @{uploader}", ("uploader",), "Cat falls"),
        ("{title} — 🎥 @{uploader} — {brand}", ("uploader",), "Cat falls — FallClips"),
        ("🎥 @{uploader}\n{title}\n{url}", ("uploader", "url"), "Cat falls"),
        ("{title} ({url}), {hashtags}", ("url",), "{hashtags}"),  # the clause holding {url} goes whole
        ("Credit: @{uploader}\n\n{hashtags}", ("uploader",), "#fail #cats"),
        ("{title}", ("title",), ""),
    ],
)
def test_missing_fields_take_their_clause_with_them(template: str, missing: tuple, expected: str) -> None:
    values = {key: (None if key in missing else value) for key, value in FULL.items()}
    assert fill_post_text(template, values) == expected.replace("{hashtags}", "#fail #cats")


def test_a_template_naming_an_unknown_field_is_refused_with_its_name(tmp_path: Path) -> None:
    data = {"version": 2, "brands": {"a": {"name": "A", "post_text": "{title} by {author}"}}}
    with pytest.raises(BrandConfigError, match=r"post_text.*unknown field \{author\}"):
        parse_brand_config(data, tmp_path)


def test_post_text_needs_version_2(tmp_path: Path) -> None:
    data = {"brands": {"a": {"name": "A", "post_text": "{title}"}}}
    with pytest.raises(BrandConfigError, match='post_text needs "version": 2'):
        parse_brand_config(data, tmp_path)


def test_hashtags_get_their_hash(tmp_path: Path) -> None:
    data = {"version": 2, "brands": {"a": {"name": "A", "hashtags": ["fail", "#cats"]}}}
    assert parse_brand_config(data, tmp_path).find("a").hashtags == ("#fail", "#cats")
