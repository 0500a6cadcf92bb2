"""A v3-shaped checkout built from generated images: v3's layout, names and database schema.

Nothing of v3 is copied: the watermarks are flat colour panels with transparent padding (vertical 1080x1920,
square and landscape 512x512, as v3's are), the logos opaque discs on black corners (1080x1080), and
`portal/db/portal.db` has v3's `brands` table with Windows backslash paths.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from PIL import Image, ImageDraw

# Colours chosen so each layer can be told apart in an output frame.
WATERMARK_RGB = {"vertical": (0, 255, 0), "square": (0, 0, 255), "landscape": (255, 0, 255)}
LOGO_RGB = (255, 40, 40)
WATERMARK_PADDING = 0.25  # transparent border of each watermark PNG, as a fraction of its side

# v3's brands table (portal/database.py, init_db), columns and defaults as v3 created them
BRANDS_TABLE = """
CREATE TABLE brands (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, display_name TEXT NOT NULL, user_id INTEGER,
    is_system INTEGER DEFAULT 0, is_locked INTEGER DEFAULT 0, is_active INTEGER DEFAULT 1,
    watermark_vertical TEXT, watermark_square TEXT, watermark_landscape TEXT, logo_path TEXT,
    watermark_scale REAL DEFAULT 1.15, watermark_opacity REAL DEFAULT 0.4, logo_scale REAL DEFAULT 0.15,
    logo_padding INTEGER DEFAULT 40, text_enabled INTEGER DEFAULT 0, text_content TEXT DEFAULT '',
    text_position TEXT DEFAULT 'bottom', text_size INTEGER DEFAULT 48, text_color TEXT DEFAULT '#FFFFFF',
    text_font TEXT DEFAULT 'Arial', text_bg_enabled INTEGER DEFAULT 1, text_bg_color TEXT DEFAULT '#000000',
    text_bg_opacity REAL DEFAULT 0.6, text_margin INTEGER DEFAULT 40, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, UNIQUE(name, user_id)
)"""
BRANDING = Path("WTF_MASTER_ASSETS/Branding")
FOLDERS = {"vertical": "Vertical_HD", "square": "Square", "landscape": "Landscape"}
SIZES = {"vertical": (1080, 1920), "square": (512, 512), "landscape": (512, 512)}


def watermark_png(path: Path, shape: str) -> None:
    """A flat panel with a transparent border (v3's watermarks have internal padding)."""
    width, height = SIZES[shape]
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    pad_x, pad_y = round(width * WATERMARK_PADDING), round(height * WATERMARK_PADDING)
    ImageDraw.Draw(image).rectangle(
        (pad_x, pad_y, width - pad_x - 1, height - pad_y - 1), (*WATERMARK_RGB[shape], 255)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def logo_png(path: Path, size: int = 1080) -> None:
    """An opaque disc on a black square: v3's circle logos, whose corners v3 keyed out."""
    image = Image.new("RGB", (size, size), (0, 0, 0))
    ImageDraw.Draw(image).ellipse((0, 0, size - 1, size - 1), LOGO_RGB)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def make_v3_checkout(root: Path, *, database: bool = True) -> Path:
    """ScotlandWTF (paths and text settings in the database, with backslashes), EnglandWTF (found by the
    file-name conventions, each orientation in another of v3's spellings, no landscape), WalesWTF
    (nothing to draw: skipped)."""
    config = {
        name: {
            "display_name": name,
            "assets": {"template": f"{name}/template.png", "logo": f"{name}/logo.png"},
            "options": {"watermark_position": "bottom-right", "watermark_scale": 0.25},
        }
        for name in ("ScotlandWTF", "EnglandWTF", "WalesWTF")
    }
    (root / "portal" / "db").mkdir(parents=True)
    (root / "portal" / "brand_config.json").write_text(json.dumps(config, indent=2))
    branding = root / BRANDING
    for shape in FOLDERS:
        watermark_png(branding / "Watermarks" / FOLDERS[shape] / "scotland_watermark.png", shape)
    # EnglandWTF: "England_watermark.png" (Clean), "england_..." (lower) -- no landscape one
    watermark_png(branding / "Watermarks" / "Vertical_HD" / "England_watermark.png", "vertical")
    watermark_png(branding / "Watermarks" / "Square" / "england_watermark.png", "square")
    logo_png(branding / "Logos" / "Circle" / "ScotlandWTF_logo.png")
    logo_png(branding / "Logos" / "Circle" / "EnglandWTF_logo.png")
    if database:
        stored = {
            shape: f"WTF_MASTER_ASSETS\\Branding\\Watermarks\\{FOLDERS[shape]}\\scotland_watermark.png"
            for shape in FOLDERS
        }
        with closing(sqlite3.connect(root / "portal" / "db" / "portal.db")) as db:
            db.execute(BRANDS_TABLE)
            db.execute(
                "INSERT INTO brands (name, display_name, is_system, watermark_vertical, watermark_square,"
                " watermark_landscape, logo_path, watermark_opacity, text_enabled, text_content, text_size,"
                " text_bg_opacity, created_at, updated_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
                (
                    "ScotlandWTF", "Scotland WTF", stored["vertical"], stored["square"], stored["landscape"],
                    "WTF_MASTER_ASSETS\\Branding\\Logos\\Circle\\ScotlandWTF_logo.png", 0.4, "@scotlandwtf",
                    48, 0.6, "2025-01-01T00:00:00", "2025-01-01T00:00:00",
                ),
            )  # fmt: skip
            db.commit()
    return root
