"""Faster Type 42 font subsetting for a job that writes many PDFs (issue #22), with the same bytes.

Every PDF that matplotlib writes with ``pdf.fonttype: 42`` embeds a subset of each font it uses, made by
fontTools from the whole font file (``matplotlib.backends._backend_pdf_ps.get_glyphs_subset``). For DejaVu
Sans (about 6,000 glyphs, large GSUB/GPOS tables) one subset costs 60-90 ms of CPU, nearly all of it
parsing the font, and a study's figure job makes about 16 of them: the largest single cost of the job.

:func:`fast_font_subsets` makes them from a pre-subset instead: the second time a job subsets a font, that
font is subset once to the glyphs of the characters figures use (ASCII, Latin-1, Greek letters, dashes,
super- and subscripts, simple arrows, mathematical operators, the f-ligatures: :data:`_RANGES`), and
this and every later subset whose glyphs all lie in it is cut from that small font (about 15 ms) with
matplotlib's own subsetting options. Subsetting is closed under this: a subset of the pre-subset has the
same tables, glyph order and glyph indices as the subset of the whole font, as long as every requested
glyph was itself requested in the pre-subset (so its cmap entries are kept; tests/test_plots_cost.py
compares the PDF bytes both ways). Any other glyph set, a font used only once, or any error goes the
ordinary way. Only active inside the context manager (:func:`efficacy.plots.save_figure` wraps the PDF save
in it), and only with the matplotlib versions that subset by glyph index (``SubsetResults``, 3.11+).
"""

from __future__ import annotations

import contextlib
from io import BytesIO

__all__ = ["fast_font_subsets"]

# code points whose glyphs the pre-subset requests
# code points whose glyphs the pre-subset requests: ASCII, Latin-1, Greek letters, dashes and quotes, super- and
# subscripts, the simple arrows, mathematical operators (minus, <=, >=, ...), the f-ligatures matplotlib's shaping
# substitutes (ff, fi, fl, ffi, ...); the figures' own text uses nothing else (a study's labels may: that PDF is
# subset the ordinary way)
_RANGES = ((0x20, 0x7E), (0xA0, 0xFF), (0x391, 0x3C9), (0x2010, 0x2044), (0x2070, 0x209F), (0x2190, 0x2199),
           (0x2200, 0x22FF), (0xFB00, 0xFB06))

_CALLS: dict = {}  # (path, face index) -> number of subsets asked for
_PRESUBSET: dict = {}  # (path, face index) -> (font bytes, {glyph index: pre-subset index}) or None


class _FontBytes(BytesIO):
    """The pre-subset font as the file object fontTools reads (``face_index`` as on matplotlib's FontPath)."""

    face_index = 0


def _presubset(original, fontfile):
    from fontTools.ttLib import TTFont

    with TTFont(fontfile, fontNumber=getattr(fontfile, "face_index", 0), lazy=True) as font:
        cmap = font.getBestCmap() or {}
        gids = {font.getGlyphID(name) for cp, name in cmap.items()
                if any(lo <= cp <= hi for lo, hi in _RANGES)}
    gids.discard(0)
    with original(fontfile, gids) as res:
        from matplotlib.backends._backend_pdf_ps import font_as_file
        data = font_as_file(res.font).getvalue()
        index = {g: res.glyph_index_map[g] for g in gids}
    return data, index


@contextlib.contextmanager
def fast_font_subsets():
    """Within this context, matplotlib's PDF backend cuts repeated font subsets from a pre-subset."""
    try:
        from matplotlib.backends import _backend_pdf_ps as backend
        original, results = backend.get_glyphs_subset, backend.SubsetResults
    except (ImportError, AttributeError):  # another matplotlib: subset as it does
        yield
        return
    if getattr(original, "_efficacy_fast", False):  # nested
        yield
        return

    def get_glyphs_subset(fontfile, glyphs):
        glyphs = set(glyphs)
        key = (str(fontfile), getattr(fontfile, "face_index", 0))
        _CALLS[key] = _CALLS.get(key, 0) + 1
        try:
            if key not in _PRESUBSET and _CALLS[key] >= 2:
                _PRESUBSET[key] = None
                _PRESUBSET[key] = _presubset(original, fontfile)
            pre = _PRESUBSET.get(key)
            if pre is None or not glyphs <= pre[1].keys():
                return original(fontfile, glyphs)
            data, index = pre
            cut = original(_FontBytes(data), {index[g] for g in glyphs})  # subsets here, opens a context later
        except Exception:  # noqa: BLE001 - any trouble: the ordinary way
            return original(fontfile, glyphs)

        @contextlib.contextmanager
        def composed():
            with cut as res:
                yield results(res.font, {g: res.glyph_index_map[index[g]] for g in glyphs})
        return composed()

    get_glyphs_subset._efficacy_fast = True
    backend.get_glyphs_subset = get_glyphs_subset
    try:
        yield
    finally:
        backend.get_glyphs_subset = original
