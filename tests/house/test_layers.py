"""The house reads as DESIGN 2 draws it: no import cycles in `portal/`, and every arrow between areas
points down the layers (web -> jobs -> acquire/brands/storage -> engine -> brand model)."""

from __future__ import annotations

import ast

from tests.house.imports import PORTAL, find_cycle, import_graph, portal_modules

# Lower imports nothing higher. The engine's option values and safe-zone table are the vocabulary the
# brand model and the settings share with the engine, so they stand at the bottom with the errors. The
# library (sources, fingerprints, post text) stands under the jobs that record into it, over the storage
# and engine it keeps files and fingerprints with.
LAYERS = [
    ("portal", "portal.errors", "portal.media.options", "portal.media.safezone", "portal.media.images"),
    ("portal.config", "portal.logging_setup"),
    ("portal.database",),
    ("portal.brand_loader",),
    ("portal.media", "portal.video_processor"),
    ("portal.storage",),
    ("portal.acquire", "portal.brands"),
    ("portal.library",),
    ("portal.runtime",),
    ("portal.jobs",),
    ("portal.web",),
    ("portal.app", "portal.gunicorn.conf"),
    ("portal.commands", "portal.__main__"),
]


def area(module: str) -> str:
    """The most specific entry of LAYERS that holds the module."""
    holders = [name for layer in LAYERS for name in layer if module == name or module.startswith(name + ".")]
    assert holders, f"{module} belongs to no layer of DESIGN 2: add it to LAYERS"
    return max(holders, key=len)


def rank(module: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if area(module) in layer)


def test_no_module_of_portal_is_in_an_import_cycle():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_arrows_point_down_the_layers():
    upward = [
        f"{source} imports {target}"
        for source, targets in import_graph().items()
        for target in targets
        if rank(target) > rank(source)
    ]
    assert upward == []


def test_each_area_says_what_it_is_for_and_what_it_may_import():
    for package in sorted(p for p in PORTAL.iterdir() if (p / "__init__.py").exists()):
        if package.name == "migrations":
            continue
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
        assert "import" in doc.lower(), f"portal/{package.name}/__init__.py does not say what it may import"


def test_the_deployment_facing_names_of_the_seed_stay():
    modules = portal_modules()
    for name in ("app", "config", "database", "gunicorn.conf", "video_processor", "brand_loader"):
        assert f"portal.{name}" in modules
