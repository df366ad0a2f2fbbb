"""The reference at work: the slides' kernels applied to a real photograph, and the slides' worked examples.

Used by ``make demo`` (first step) and by the tests; writes a PNG and returns the text it prints.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["PHOTO", "load_photo", "kernel_gallery", "worked_examples_text"]

# A real photograph that ships inside matplotlib (no download): Grace Hopper, 600x512 RGB.
PHOTO = "grace_hopper.jpg"


def load_photo() -> np.ndarray:
    """The photograph as an (H, W, 3) uint8 array."""
    import matplotlib.cbook as cbook
    import matplotlib.pyplot as plt

    return plt.imread(cbook.get_sample_data(PHOTO, asfileobj=False))


def kernel_gallery(path: Path, size: int = 256) -> Path:
    """Apply every named kernel of ``reference.KERNELS`` to the grayscale photograph and save a grid as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reference import KERNELS, correlate2d, rgb_to_grayscale

    gray = rgb_to_grayscale(load_photo()[::2, ::2][:size, :size]) / 255.0
    panels = [("original (grayscale)", gray, None)]
    panels += [(name, correlate2d(gray, kernel, pad="same"), kernel) for name, kernel in KERNELS.items()]
    cols = 4
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows))
    for ax in axes.flat:
        ax.axis("off")
    # the grid has rows * cols axes, the last row may have fewer panels: its spare axes stay blank
    for ax, (name, image, kernel) in zip(axes.flat, panels, strict=False):
        lo, hi = np.percentile(image, [1, 99])
        ax.imshow(image, cmap="gray", vmin=lo, vmax=hi)
        title = name if kernel is None else f"{name}\n" + " ".join(
            "[" + " ".join(f"{v:.2g}" for v in row) + "]" for row in np.round(kernel, 3))
        ax.set_title(title, fontsize=8)
    fig.suptitle("The slides' kernels applied to a photograph (reference.correlate2d, pad='same')")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def worked_examples_text() -> str:
    """Each worked example of the slides, recomputed by the reference, beside what the slide printed."""
    import reference
    from reference.slides import EXAMPLES

    lines = []
    for ex in EXAMPLES:
        got = np.asarray(getattr(reference, ex.function)(*ex.args, **ex.kwargs)).squeeze()
        ok = np.allclose(got, ex.expected.squeeze())
        args = ", ".join(f"{k}={v}" for k, v in ex.kwargs.items())
        lines.append(f"[{'ok' if ok else 'MISMATCH'}] {ex.id}: {ex.section} "
                     f"({ex.function}{'; ' + args if args else ''})")
        lines.extend("    " + row for row in np.array2string(got, precision=3, suppress_small=True).splitlines())
        if ex.erratum:
            lines.append(f"    slide erratum: {ex.erratum}")
    return "\n".join(lines)
