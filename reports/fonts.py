"""The CJK font the report is drawn with, so Chinese renders without tofu boxes anywhere.

The font comes from Debian's `fonts-noto-cjk` (or `fonts-wqy-microhei`), which the Makefile,
the Dockerfile and .ci/run install; `GOVSHARE_CJK_FONT` names another file. Noto's files are
collections (.ttc) of Japanese, Korean and Chinese faces: the Simplified Chinese face is taken
out once into a cache (Japanese glyph shapes differ for many hanzi). The charts draw their
text as paths with it (nothing to load in the page), and the HTML embeds a subset of it
holding only the characters the page uses (fonttools), so the page and its PDF need no font
on the reader's machine.
"""

from __future__ import annotations

import base64
import io
import os
from functools import cache
from pathlib import Path

CANDIDATES = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
]
INSTALL_HINT = ("install a CJK font: `apt-get install fonts-noto-cjk` (Debian/Ubuntu; "
                "`make fonts` does it where it can), or set GOVSHARE_CJK_FONT to a .ttf/.otf/"
                ".ttc file with Simplified Chinese glyphs")
FAMILY = "GovshareCJK"  # the name the page's @font-face declares


class FontMissingError(RuntimeError):
    pass


def font_source() -> Path:
    """The CJK font file on this machine, or `FontMissingError` saying how to get one."""
    named = os.environ.get("GOVSHARE_CJK_FONT")
    if named:
        if not Path(named).is_file():
            raise FontMissingError(f"GOVSHARE_CJK_FONT={named} is not a file; {INSTALL_HINT}")
        return Path(named)
    for candidate in CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontMissingError(f"no CJK font found (looked in {', '.join(CANDIDATES)}); "
                           f"{INSTALL_HINT}")


def _cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "govshare"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _simplified_face(collection) -> int:
    """Index of the Simplified Chinese face in a collection (name contains SC or 简),
    else the first face."""
    for index, font in enumerate(collection.fonts):
        name = font["name"].getDebugName(4) or ""
        if " SC" in name or "简" in name or name.endswith("SC"):
            return index
    return 0


@cache
def font_file() -> Path:
    """A single-face font file (the Simplified Chinese face of a collection), cached."""
    source = font_source()
    if source.suffix.lower() != ".ttc":
        return source
    from fontTools.ttLib import TTCollection

    stat = source.stat()
    target = _cache_dir() / f"{source.stem}-{stat.st_size}-{int(stat.st_mtime)}.otf"
    if not target.exists():
        collection = TTCollection(str(source), lazy=True)
        partial = target.with_suffix(".part")
        collection.fonts[_simplified_face(collection)].save(str(partial))
        partial.replace(target)  # never leave a half-written font for the next process
    return target


def subset_woff_base64(text: str) -> str:
    """The font cut down to the characters of `text` (plus ASCII), as base64 WOFF for a
    data: URL in the page's @font-face."""
    from fontTools import subset

    options = subset.Options()
    options.flavor = "woff"
    # Horizontal Chinese text needs no OpenType layout features nor hinting; without them
    # the subset is a third of the size and made in half the time (about 1 s, 40 KB).
    options.layout_features = []
    options.hinting = False
    options.desubroutinize = True
    options.notdef_outline = True
    font = subset.load_font(str(font_file()), options, lazy=True)
    subsetter = subset.Subsetter(options)
    chars = {chr(c) for c in range(0x20, 0x7F)} | set(text)
    subsetter.populate(text="".join(sorted(chars)))
    subsetter.subset(font)
    buffer = io.BytesIO()
    subset.save_font(font, buffer, options)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
