"""The figure job's savings (issue #22) change no byte: the PDF font subsets cut from a pre-subset, the
save without the idle layout pre-draw, and the lazy scipy import of the figures."""
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from efficacy.plots import _pdf_fonts, save_figure, style

ROOT = Path(__file__).resolve().parents[1]

TEXTS = [  # ASCII with f-ligatures, Greek, minus, super/subscripts, <=, arrows (all in the pre-subset) ...
    "efficacy: affine flow, \u03b1 = 0.81, \u03c9\u2080 \u2264 0.9, R\u00b2 \u2212 1 \u2192 \u0394CFI \u00b1",
    "officially baffled fjord",
    # ... and a letter outside it (Latin Extended-A): that figure takes the ordinary way
    "Ma\u0142gorzata Szcz\u0119sna",
]


def _figure(text, bold=False):
    with style():
        fig, ax = plt.subplots(figsize=(3.5, 1.5))
        ax.set_title(text, fontweight="bold" if bold else "normal")
        ax.plot([0, 1], [0, -1])
        ax.set_xlabel("x \u2212 1")
        fig.tight_layout()
    return fig


def _pdf(fig):
    import io

    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format="pdf", metadata={"CreationDate": None, "Producer": None})
    return buf.getvalue()


@pytest.fixture
def fresh_font_state(monkeypatch):
    monkeypatch.setattr(_pdf_fonts, "_CALLS", {})
    monkeypatch.setattr(_pdf_fonts, "_PRESUBSET", {})


def test_font_subsets_cut_from_the_presubset_give_the_same_pdf_bytes(fresh_font_state):
    figs = [_figure(TEXTS[0]), _figure(TEXTS[0], bold=True), _figure(TEXTS[1]), _figure(TEXTS[2], bold=True)]
    plain = [_pdf(f) for f in figs]
    with _pdf_fonts.fast_font_subsets():
        fast = [_pdf(f) for f in figs] + [_pdf(f) for f in figs]  # second round: every font pre-subset
    for f in figs:
        plt.close(f)
    assert fast == plain + plain
    # the fast way was taken (not a silent fallback): both fonts were pre-subset
    pre = [v for v in _pdf_fonts._PRESUBSET.values() if v is not None]
    assert len(pre) == 2 and all(len(index) > 300 for _, index in pre)


def test_fast_font_subsets_only_inside_the_context():
    from matplotlib.backends import _backend_pdf_ps

    before = _backend_pdf_ps.get_glyphs_subset
    with _pdf_fonts.fast_font_subsets():
        if hasattr(_backend_pdf_ps, "SubsetResults"):
            assert _backend_pdf_ps.get_glyphs_subset is not before
    assert _backend_pdf_ps.get_glyphs_subset is before


def test_save_figure_after_tight_layout_same_bytes_and_engine_kept(tmp_path):
    fig = _figure(TEXTS[0])
    engine = fig.get_layout_engine()  # tight_layout's placeholder
    out = save_figure(fig, tmp_path / "a", close=False)
    assert fig.get_layout_engine() is engine
    with style():  # the plain savefig, with the placeholder engine (and its extra draw)
        fig.savefig(tmp_path / "b.png", format="png", dpi=300, metadata={"Software": None})
        fig.savefig(tmp_path / "b.pdf", format="pdf", metadata={"CreationDate": None, "Producer": None})
    plt.close(fig)
    assert Path(out["png"]).read_bytes() == (tmp_path / "b.png").read_bytes()
    assert Path(out["pdf"]).read_bytes() == (tmp_path / "b.pdf").read_bytes()


def test_the_figure_job_imports_no_scipy_stats():
    code = ("import sys, matplotlib; matplotlib.use('Agg'); import efficacy.plots; "
            "print(sorted(m for m in ('scipy.stats', 'statsmodels', 'efficacy.sem') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""})
    assert out.stdout.strip() == "[]"
