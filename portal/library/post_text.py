"""A brand's post text filled for one output from its source's metadata (DESIGN 4.14).

A field with no value takes its clause with it: the text between the separators around it (`|`, `·`, a dash,
` - `, `,`, `;`) or its whole line, so a missing uploader leaves no lone `@` and no dangling
punctuation.
"""

from __future__ import annotations

import re
import string

from portal.brand_loader import Brand

MISSING = "\x00"
SEPARATOR = re.compile(r"(\s*(?:[|·,;\u2013\u2014]|\s-)\s+)")  # \u2013, \u2014: en and em dashes
BLANK_LINES = re.compile(r"\n{3,}")


def post_values(brand: Brand, meta: dict | None) -> dict[str, str | None]:
    """The template's fields for an output of `brand` from a source described by `meta`."""
    meta = meta or {}
    return {
        "title": meta.get("title"),
        "uploader": meta.get("uploader"),
        "url": meta.get("original_url"),
        "brand": brand.name,
        "hashtags": " ".join(brand.hashtags) or None,
    }


def _line(line: str) -> str | None:
    """The line without the clauses that hold a missing field; None when nothing of it is left."""
    if MISSING not in line:
        return line
    parts = SEPARATOR.split(line)  # clause, separator, clause, ...
    clauses = parts[0::2]
    separators = parts[1::2]
    kept: list[str] = []
    for index, clause in enumerate(clauses):
        if MISSING in clause or not clause.strip():
            continue
        if kept:
            kept.append(separators[index - 1])
        kept.append(clause)
    text = "".join(kept).strip()
    return text or None


def fill_post_text(template: str, values: dict[str, str | None]) -> str:
    """The template with its fields filled; see the module's docstring for missing ones."""
    pieces = []
    for text, name, _spec, _conversion in string.Formatter().parse(template):
        pieces.append(text)
        if name is not None:
            value = (values.get(name) or "").strip()
            pieces.append(value.replace(MISSING, "") if value else MISSING)
    lines = [_line(line) for line in "".join(pieces).split("\n")]
    filled = "\n".join(line.rstrip() for line in lines if line is not None)
    return BLANK_LINES.sub("\n\n", filled).strip()


def post_text_for(brand: Brand, meta: dict | None) -> str | None:
    """The brand's post text for an output of a source described by `meta`; None if it has no template."""
    if brand.post_text is None:
        return None
    return fill_post_text(brand.post_text, post_values(brand, meta))
