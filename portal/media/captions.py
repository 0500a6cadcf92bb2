"""Captions burned in (DESIGN 4.13): a transcript in a brand's style, as an ASS subtitle document per
output shape, which libass draws inside the render's one FFmpeg pass (the `subtitles` filter).

The font is the one text layers use (the scalable default bundled in Pillow), written once beside the
ASS file so libass needs no system font. A cue longer than `max_lines` lines of `max_chars` is shown as
several captions in turn, its time shared by their words; while a word is spoken it takes the highlight
colour (one ASS event per word). Captions sit centred across the safe zone, at its bottom (so above the
platform's caption band) unless the style places them at its middle or top, and their size shrinks until
the longest line fits the safe width.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from portal.brand_loader import CaptionStyle, for_shape, output_shape
from portal.media.safezone import SafeZone
from portal.media.transcript import Cue, Word, spread_words

FONT_FILE = "captions-font.ttf"
LINE_SPACING = 1.25  # a line's height as a multiple of the font size, for the band the captions take
# What a preview shows where a clip's captions will go (it has no transcript)
SAMPLE_CAPTION = "Captions appear here"


@lru_cache(maxsize=1)
def _font_bytes() -> bytes:
    return ImageFont.load_default(size=10).font_bytes


@lru_cache(maxsize=1)
def font_family() -> str:
    """The bundled font's family name, as the ASS style names it."""
    return ImageFont.load_default(size=10).getname()[0] or "Aileron"


def write_font(folder: Path) -> Path:
    """The bundled font as a file in `folder` (libass's fontsdir)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FONT_FILE
    if not path.exists():
        path.write_bytes(_font_bytes())
    return path


def _text_width(text: str, size: int) -> int:
    left, _top, right, _bottom = _font(size).getbbox(text)
    return right - left


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def lines_of(words: Sequence[Word], max_chars: int) -> list[list[Word]]:
    """Words broken into lines of at most `max_chars` characters (a longer word has a line of its own)."""
    lines: list[list[Word]] = []
    length = 0
    for word in words:
        if lines and length + 1 + len(word.text) <= max_chars:
            lines[-1].append(word)
            length += 1 + len(word.text)
        else:
            lines.append([word])
            length = len(word.text)
    return lines


def captions_shown(cues: Iterable[Cue], style: CaptionStyle) -> list[tuple[float, float, list[list[Word]]]]:
    """Each caption on screen: (start, end, its lines of words); a long cue becomes several in turn."""
    shown = []
    for cue in cues:
        lines = lines_of(cue.words, style.max_chars)
        pages = [lines[i : i + style.max_lines] for i in range(0, len(lines), style.max_lines)]
        for index, page in enumerate(pages):
            start = cue.start if index == 0 else page[0][0].start
            end = cue.end if index == len(pages) - 1 else pages[index + 1][0][0].start
            if end > start:
                shown.append((start, end, page))
    return shown


def font_size(style: CaptionStyle, canvas: tuple[int, int], zone: SafeZone) -> int:
    """The font size in pixels: `style.size` of the height, smaller if a full line would not fit."""
    width, height = canvas
    safe_width = width * (1 - zone.left - zone.right) - 2 * style.margin * width
    size = max(8, round(style.size * height))
    sample = "M" * (style.max_chars * 2 // 3) + "a" * (style.max_chars - style.max_chars * 2 // 3)
    while size > 8 and _text_width(sample, size) > safe_width:
        size -= 1
    return size


def _ass_colour(hex_colour: str, opacity: float = 1.0) -> str:
    """#RRGGBB as ASS's &HAABBGGRR (alpha 00 is opaque)."""
    red, green, blue = hex_colour[1:3], hex_colour[3:5], hex_colour[5:7]
    return f"&H{round((1 - opacity) * 255):02X}{blue}{green}{red}".upper()


def _clock(seconds: float) -> str:
    centis = round(seconds * 100)
    hours, rest = divmod(centis, 360_000)
    minutes, rest = divmod(rest, 6000)
    return f"{hours}:{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("{", "(").replace("}", ")")


def _page_text(page: list[list[Word]], active: Word | None, highlight: str | None) -> str:
    def word_text(word: Word) -> str:
        if word is active and highlight is not None:
            return f"{{\\c{_ass_colour(highlight)}}}{_escape(word.text)}{{\\r}}"
        return _escape(word.text)

    return "\\N".join(" ".join(word_text(word) for word in line) for line in page)


@dataclass(frozen=True)
class CaptionLayout:
    """How one output draws its captions: the libass style's numbers, and `band`, the rectangle (x, y, w,
    h) its captions can take (`max_lines` lines across the safe width, outline or box included): what the
    brand editor outlines."""

    size: int
    border: int  # ASS BorderStyle: 1 outline, 3 a box
    outline: int  # pixels the outline or box reaches beyond the letters
    outline_colour: str
    alignment: int  # ASS numpad alignment: 2 bottom, 5 middle, 8 top (centred across)
    margins: tuple[int, int, int]  # ASS MarginL, MarginR, MarginV
    centre: tuple[int, int] | None  # where a centred caption's middle is pinned (\pos)
    band: tuple[int, int, int, int]


def caption_layout(style: CaptionStyle, canvas: tuple[int, int], zone: SafeZone) -> CaptionLayout:
    """Where and how big an output of this size whose UI margins are `zone` draws this style's captions."""
    width, height = canvas
    size = font_size(style, canvas, zone)
    if style.box is not None:  # BorderStyle 3: an opaque box in the outline colour behind each line
        border, outline_colour = 3, _ass_colour(style.box.color, style.box.opacity)
        outline = max(1, round(size * 0.15))
    else:
        border, outline_colour = 1, _ass_colour(style.outline or "#000000")
        outline = round(size * style.outline_width) if style.outline else 0
    # the outline or box reaches `outline` pixels beyond the letters: kept inside the safe zone too
    gap = style.margin * width + outline
    margin_l, margin_r = round(zone.left * width + gap), round(zone.right * width + gap)
    position = for_shape(style.position, output_shape(width, height))
    band_height = round(style.max_lines * size * LINE_SPACING + 2 * outline)
    band_x, band_width = margin_l - outline, width - margin_l - margin_r + 2 * outline
    centre = None
    if position == "top":
        alignment, margin_v = 8, round(zone.top * height + gap)
        band_y = margin_v - outline
    elif position == "center":  # libass centres a middle-aligned line in the frame: pinned to the zone's
        alignment, margin_v = 5, 0
        middle = round((zone.top + (1 - zone.top - zone.bottom) / 2) * height)
        centre = (band_x + band_width // 2, middle)
        band_y = middle - band_height // 2
    else:
        alignment, margin_v = 2, round(zone.bottom * height + gap)
        band_y = height - margin_v + outline - band_height
    band = (band_x, band_y, band_width, band_height)
    margins = (margin_l, margin_r, margin_v)
    return CaptionLayout(size, border, outline, outline_colour, alignment, margins, centre, band)


def ass_document(cues: Sequence[Cue], style: CaptionStyle, canvas: tuple[int, int], zone: SafeZone) -> str:
    """The transcript as an ASS document for an output of this size whose UI margins are `zone`."""
    width, height = canvas
    layout = caption_layout(style, canvas, zone)
    margin_l, margin_r, margin_v = layout.margins
    header = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 2",  # lines break only where we break them
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding",
        f"Style: Captions,{font_family()},{layout.size},{_ass_colour(style.color)},"
        f"{_ass_colour(style.color)},{layout.outline_colour},&H80000000,0,0,0,0,100,100,0,0,{layout.border},{layout.outline},0,"
        f"{layout.alignment},{margin_l},{margin_r},{margin_v},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    pin = "" if layout.centre is None else f"{{\\pos({layout.centre[0]},{layout.centre[1]})}}"
    events = []
    for start, end, page in captions_shown(cues, style):
        words = [word for line in page for word in line]
        if style.highlight is None:
            events.append((start, end, _page_text(page, None, None)))
            continue
        # one event per word: from its start (the caption's, for the first) to the next word's start
        for index, word in enumerate(words):
            begin = start if index == 0 else max(start, word.start)
            until = end if index == len(words) - 1 else min(end, words[index + 1].start)
            if until > begin:
                events.append((begin, until, _page_text(page, word, style.highlight)))
    lines = [f"Dialogue: 0,{_clock(a)},{_clock(b)},Captions,,0,0,0,,{pin}{text}" for a, b, text in events]
    return "\n".join(header + lines) + "\n"


def sample_transcript(duration: float) -> list[Cue]:
    """A preview's stand-in transcript: SAMPLE_CAPTION for the whole clip, its first word the active one."""
    return [Cue(0.0, duration, SAMPLE_CAPTION, spread_words(SAMPLE_CAPTION, 0.0, duration))]
