"""The pictures of the feedback pages and the class report, as ``data:image/png;base64,...`` URIs.

Every figure is a :class:`matplotlib.figure.Figure` made without pyplot, so drawing keeps no global state and needs
no display; the PNG is embedded in the page, which therefore stays one self-contained file.
"""
from __future__ import annotations

import base64
import io
import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["safe_label", "png_uri", "heatmaps", "as_image", "score_histogram", "pass_rate_chart", "diagnosis_chart"]

DPI = 96
# Colours: a diverging map for signed values (expected, got), a sequential one for |difference|.
VALUE_CMAP, DIFF_CMAP = "RdBu_r", "magma"
PASS_COLOUR, FAIL_COLOUR = "#2e7d32", "#c62828"


def safe_label(text, cap: int = 80) -> str:
    """Text for a title or a tick label: safe, one line, and with ``$`` escaped (matplotlib would parse ``$...$``
    as mathtext, and a malformed formula in a case name or an assignment folder's name stops the drawing)."""
    from autograder.safe_text import safe_line

    return safe_line(text, cap).replace("$", r"\$")


def png_uri(fig: Figure) -> str:
    """``fig`` as an embeddable PNG data URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def as_image(value, index: tuple = ()) -> tuple[np.ndarray, str]:
    """A 2-D view of an array for a heatmap, and which slice it is.

    ``(H, W)`` is shown as is, ``(D,)`` as one row, and ``(N, C, H, W)`` (or any ``(..., H, W)``) as the ``H x W``
    slice at the leading indices of ``index`` (the worst element), else the first slice.
    """
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0:  # an empty answer (a leading axis of 0) has no slice to index: nothing to draw
        return np.empty((0, 0)), ""
    if arr.ndim == 0:
        return arr.reshape(1, 1), ""
    if arr.ndim == 1:
        return arr.reshape(1, -1), ""
    if arr.ndim == 2:
        return arr, ""
    lead = tuple(index[: arr.ndim - 2]) if len(index) >= arr.ndim - 2 else (0,) * (arr.ndim - 2)
    return arr[lead], "[" + ", ".join(str(i) for i in lead) + ", :, :]"


def _finite(img: np.ndarray) -> np.ndarray:
    return np.ma.masked_invalid(img)


def heatmaps(expected, got, title: str = "") -> str:
    """Expected, got and |got - expected| side by side (NaN and inf shown blank); a PNG data URI. ``title``
    (an output's name, for functions returning several) prefixes each panel's title.

    Shapes that differ get no difference panel. Arrays of more than two axes are cut to the ``H x W`` slice that
    holds the largest difference (``as_image``)."""
    exp, gotten = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    same = exp.shape == gotten.shape
    index: tuple = ()
    if same and exp.size:
        with np.errstate(invalid="ignore"):
            diff = np.abs(gotten - exp)
        diff = np.where(np.isnan(diff) & ~(np.isnan(gotten) & np.isnan(exp)), np.inf, diff)
        index = tuple(int(i) for i in np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), -1, diff))),
                                                       exp.shape)) if exp.ndim else ()
    e_img, where = as_image(exp, index)
    g_img, _ = as_image(gotten, index)
    panels = [("expected", e_img, VALUE_CMAP), ("got", g_img, VALUE_CMAP)]
    shapes = [exp.shape, gotten.shape, exp.shape]
    if same:
        with np.errstate(invalid="ignore"):
            panels.append(("|got - expected|", np.abs(g_img - e_img), DIFF_CMAP))
    finite = np.concatenate([p[np.isfinite(p)].ravel() for _, p, _ in panels[:2]] or [np.zeros(1)])
    lim = float(np.abs(finite).max()) if finite.size else 1.0
    lim = lim or 1.0
    fig = Figure(figsize=(3.2 * len(panels), 3.0))
    for k, (label, img, cmap) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        if img.size == 0:  # e.g. an output size off by one that came out empty: nothing to draw
            ax.set_title(f"{label}\nshape {shapes[k]}", fontsize=9)
            ax.text(0.5, 0.5, "empty array", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        vmin, vmax = (-lim, lim) if cmap == VALUE_CMAP else (0.0, None)
        im = ax.imshow(_finite(img), cmap=cmap, interpolation="nearest", aspect="auto" if img.shape[0] == 1 else
                       "equal", vmin=vmin, vmax=vmax)
        ax.set_title(f"{title + ': ' if title else ''}{label} {where}".strip() + f"\nshape {img.shape}", fontsize=9)
        ax.tick_params(labelsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
    fig.tight_layout()
    return png_uri(fig)


def score_histogram(scores: list[float], max_score: float, title: str) -> str:
    """How many students got each score (bins of one point, or 20 bins for large maxima)."""
    fig = Figure(figsize=(7.0, 3.2))
    ax = fig.add_subplot()
    top = max(max_score, max(scores, default=0.0), 1.0)
    bins = np.linspace(0, top, min(int(math.ceil(top)), 20) + 1)
    ax.hist(scores, bins=list(bins), color="#1565c0", edgecolor="white")
    if scores:
        ax.axvline(float(np.mean(scores)), color="#ef6c00", lw=2, label=f"mean {np.mean(scores):.1f}")
        ax.legend(fontsize=8)
    ax.set_xlim(0, top)
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(safe_label(title, 120), fontsize=10)
    return png_uri(fig)


def pass_rate_chart(names: list[str], rates: list[float], discrimination: list[float | None]) -> str:
    """One horizontal bar per case (its pass rate), coloured by discrimination (grey when undefined)."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    fig = Figure(figsize=(7.5, max(2.0, 0.22 * len(names) + 1.0)))
    ax = fig.add_subplot()
    norm, cmap = Normalize(-1.0, 1.0), colormaps["coolwarm_r"]
    colours = [cmap(norm(d)) if d is not None else "#9e9e9e" for d in discrimination]
    y = np.arange(len(names))
    ax.barh(y, [100 * r for r in rates], color=colours, edgecolor="#424242", linewidth=0.3)
    ax.set_yticks(y, [safe_label(n) for n in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("students passing (%)")
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, fraction=0.04, pad=0.02).set_label(
        "discrimination (point-biserial r)", fontsize=8)
    return png_uri(fig)


def diagnosis_chart(names: list[str], counts: list[int], total: int) -> str:
    """The class's misconceptions: students whose answer matched each known mistake, most frequent first."""
    fig = Figure(figsize=(7.0, max(1.6, 0.35 * len(names) + 0.9)))
    ax = fig.add_subplot()
    y = np.arange(len(names))
    ax.barh(y, counts, color=FAIL_COLOUR)
    ax.set_yticks(y, [safe_label(n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(total, max(counts, default=1)))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"students (of {total})")
    return png_uri(fig)
