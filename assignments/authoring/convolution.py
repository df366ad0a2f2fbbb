"""Writes assignments/source/convolution/convolution.ipynb: images, kernels, padding, stride (slides 000-004).

Run ``python -m assignments.authoring.convolution`` from the repository root. The slides' worked examples and the
named kernels are printed into the notebook from :mod:`reference.slides` and ``reference.KERNELS``, the input-check
helpers from :mod:`reference._checks`, the points of each check cell from ``autograder.suites.points_by_function``;
tests/assignments/test_notebooks.py grades the solutions against the reference on every case, public and hidden.
The student functions' cells are in :mod:`assignments.authoring._convolution_solutions`.
"""
from __future__ import annotations

from pathlib import Path

from assignments.authoring import nb
from assignments.authoring._convolution_cells import _example, grid_and_window
from assignments.authoring._convolution_pictures import (colour_filters, digit_and_sharpen, emboss_patch,
                                                         padding_settings)
from assignments.authoring._convolution_solutions import solutions
from assignments.authoring._convolution_stack_cells import receptive_field_cells, shift_equivariance
from assignments.authoring.nb import demo_code, markdown
from autograder.suites import assignment
from autograder.suites.convolution import KERNEL_DESIGN

NAME = "convolution"
TITLE = assignment(NAME).title
PATH = Path(__file__).resolve().parents[1] / "source" / NAME / f"{NAME}.ipynb"

__all__ = ["NAME", "TITLE", "PATH", "teaching", "solutions"]



def teaching() -> list:
    """The notebook in reading order; a plain string ``"fn"`` marks where fn's solution and check cells go."""
    pad1, stride2, digit = _example("sharpen-pad1"), _example("sharpen-pad1-stride2"), _example("digit-6x6")
    return [
        *grid_and_window(),
        *shift_equivariance(),
        markdown("""
            ## 3. Correlation or convolution? The flipped kernel

            What you just wrote is, strictly, **cross-correlation**. The mathematical **convolution**
            $(x * h)[m, n] = \\sum_{i,j} x[i, j]\\, h[m - i, n - j]$ runs the kernel backwards: it is correlation
            with the kernel **flipped** in both axes (turned by 180 degrees). For a symmetric kernel (blur,
            sharpen) both agree; for an asymmetric one they do not. Deep-learning libraries (PyTorch's `conv2d`
            too) compute correlation and still call it convolution: a learned kernel can just as well be learned
            flipped. Implement `convolve2d` with your `correlate2d` — one line.
            """),
        "convolve2d",
        demo_code("""
            @picture
            def _():
                image = np.zeros((7, 7)); image[3, 3] = 1          # a single bright pixel
                kernel = np.arange(1.0, 10.0).reshape(3, 3)
                fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
                for ax, (title, out) in zip(axes, [("kernel", kernel),
                                                   ("correlate2d: the kernel appears flipped", correlate2d(image, kernel, pad=1)),
                                                   ("convolve2d: the kernel appears as is", convolve2d(image, kernel, pad=1))]):
                    ax.imshow(out, cmap="viridis")
                    for (r, c), v in np.ndenumerate(out):
                        if v:
                            ax.text(c, r, f"{v:g}", ha="center", va="center", color="w")
                    ax.set_title(title, fontsize=9); ax.axis("off")
                plt.show()
            """),
        markdown("""
            ## 4. A gallery of classic kernels

            Kernels were designed by hand long before they were learned. *Averaging* neighbours blurs,
            *subtracting* neighbours finds edges, a *positive centre with negative neighbours* sharpens, and the
            Sobel kernels respond to horizontal or vertical changes of brightness. The slides' vertical-edge
            example shows why: `[1, 0, -1]` in every row gives `-765` where black turns white and `+765` where
            white turns black. `KERNELS` (in the setup cell) holds the slides' kernels; the check below confirms
            it still holds them (keep it unchanged: the grader checks it too, for no points: the table is given). Here they are on the photograph,
            using your `rgb_to_grayscale` and `correlate2d`.
            """),
        "KERNELS",
        demo_code("""
            @picture
            def _():
                gray = rgb_to_grayscale(PHOTO[::2, ::2]) / 255.0     # half size keeps this quick
                panels = [("original", gray, 1.0)] + [(n, correlate2d(gray, k, pad="same"), k.sum()) for n, k in KERNELS.items()]
                cols = 5
                fig, axes = plt.subplots(-(-len(panels) // cols), cols, figsize=(3.2 * cols, 3.4 * -(-len(panels) // cols)),
                                         layout="constrained")
                for ax in axes.flat:
                    ax.axis("off")
                for ax, (name, img, weight) in zip(axes.flat, panels):
                    if np.isclose(weight, 0):          # weights summing to 0: a signed map, mid-grey is 0
                        m = np.percentile(np.abs(img), 99)
                        lo, hi, name = -m, m, f"{name} (grey = 0)"
                    else:
                        lo, hi = np.percentile(img, [1, 99])
                    ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
                    ax.set_title(name, fontsize=9)
                plt.show()
            """),
        markdown("""
            Deck 004 applies the emboss kernel to one 3x3 patch of a photograph: one window, one number. The
            weights sum to 1, so a flat patch keeps its brightness; the negative top-left and positive bottom-right
            weights make a patch that darkens towards the bottom-right (as this one does) come out negative.
            """),
        emboss_patch(),
        markdown(f"""
            ## 5. Padding and stride, seen

            Section 2's table in numbers: deck 002 pads its binary 5x5 image with one ring of zeros, correlates it
            with the sharpen kernel, and then does the same with stride 2; deck 003 slides an X-shaped kernel
            `{digit.args[1].astype(int).tolist()}` over a 6x6 digit. Slides have slips too:
            two puzzles, then check with your `correlate2d`.

            **Puzzle 1 (deck 002).** The slide prints `{pad1.slide[4, 0]:g}` in the bottom-left corner of the padded
            feature map, and its stride-2 slide copies that `{pad1.slide[4, 0]:g}`. Compute that window by hand:
            the padded image's last three rows, first three columns, times the sharpen kernel. Who is right?

            **Puzzle 2 (deck 003).** The slide's feature map starts its second row with `{digit.slide[1, 0]:g}`.
            Which five pixels does the X kernel pick in that window (rows 1-3, columns 0-2 of the digit), and what
            do they sum to?

            Work them out, then run the cell below: it prints your `correlate2d`'s answers beside the slides'.
            """),
        demo_code(f"""
            @picture
            def _():
                binary = {nb.array_literal(pad1.args[0], 25)}
                sharpen = {nb.array_literal(pad1.args[1], 26)}
                digit = {nb.array_literal(digit.args[0], 24)}
                x_kernel = {nb.array_literal(digit.args[1], 27)}
                # What the slides print:
                slide_pad1 = {nb.array_literal(pad1.slide, 29)}
                slide_stride2 = {nb.array_literal(stride2.slide, 32)}
                slide_digit = {nb.array_literal(digit.slide, 30)}
                for name, out, slide in [("deck 002, sharpen, pad=1", correlate2d(binary, sharpen, pad=1), slide_pad1),
                                         ("deck 002, sharpen, pad=1, stride=2", correlate2d(binary, sharpen, pad=1, stride=2), slide_stride2),
                                         ("deck 003, X kernel on the 6x6 digit", correlate2d(digit, x_kernel), slide_digit)]:
                    print(f"{{name}}: output {{out.shape}}")
                    for mine, theirs in zip(np.round(out, 6), slide):
                        print(f"    yours {{np.array2string(mine + 0.0):<28}} slide {{theirs}}")
            """),
        markdown(f"""
            <details><summary><b>The answers</b> (open once you have tried the puzzles)</summary>

            * Puzzle 1: {pad1.erratum}; the stride-2 map keeps every second window of the padded one,
              `{pad1.expected[::2, ::2].astype(int).tolist()}`, so its bottom-left corner is that same window: 4, not
              {pad1.slide[4, 0]:g}.
            * Puzzle 2: {digit.erratum}.

            </details>

            Both examples drawn, each slip's cell in magenta, the slide's value above the right one. In the
            padded image the zero ring is shaded and the nine windows of stride 2 are outlined in nine colours;
            each output cell is framed in the colour of its window.
            """),
        digit_and_sharpen(),
        markdown("""
            The settings of section 2's table on deck 002's binary image with the sharpen kernel (cells coloured
            on one symmetric scale, red positive, blue negative), and `output_size` on a few more:
            """),
        padding_settings(),
        markdown("""
            ## 6. Many channels, many filters: the convolution layer

            A colour image has 3 channels, and a layer's output has one channel per filter, so from the second
            layer on the input has many channels. A filter is therefore a **cube** `(C, KH, KW)`: it spans every
            input channel, correlates each channel with its own slice and adds the `C` results (plus one bias
            number) into **one** feature map. A layer holds `F` such filters, `w` of shape `(F, C, KH, KW)`,
            and processes a batch of `N` images at once:

            $$\\text{out}[n, f] = b[f] + \\sum_{c} \\text{correlate2d}(x[n, c], w[f, c])$$

            giving `(N, F, H', W')`. Implement `conv2d_forward(x, w, b, stride=1, pad=0)` (`pad` an int or a
            pair). The window-offset hint of `correlate2d` still works: for tap `(i, j)`, `w[:, :, i, j]` is an
            `(F, C)` matrix and the strided slice of the padded batch is `(N, C, H', W')`; `np.einsum` or
            `np.tensordot` contracts the `C` axis.

            In [CNN Explainer](https://poloclub.github.io/cnn-explainer/#article-convolution) (deck 004), click a
            map of the second layer, `conv_1_2`: each of its 10 maps is made from all 10 maps of `conv_1_1`, one
            kernel slice per input map, the 10 results added together with the bias: the sum above.
            """),
        "conv2d_forward",
        markdown("""
            Below, one layer with four hand-made filters reads the *colour* photograph: each filter sees all
            three channels and writes one feature map; a signed map is drawn on a symmetric scale (white is 0,
            red positive, blue negative). The second picture takes filter 2 ("red minus the rest", bias `-0.1`)
            apart: its three slices correlate the three channels, the three maps are added, the bias is added,
            and the result is exactly `conv2d_forward`'s map. The learned filters of a trained CNN play the same
            role (you will see them in the last assignment).
            """),
        colour_filters(),
        markdown(f"""
            ## 7. Design a kernel

            The first deck ends with an exercise: *tweak the kernels to capture other patterns*. `KERNELS` has
            horizontal and vertical edge detectors (`sobel_y`, `sobel_x`); `KERNELS["edge_diagonal"]` answers
            *both* diagonals, with either sign (it is a corner detector as much as an edge detector). Write
            `diagonal_edge_kernel()`, returning a 3x3 kernel for **one** edge: a boundary along the main diagonal
            (from the top-left corner to the bottom-right one), **dark below-left and bright above-right**. That
            edge must give a large *positive* response.

            **How it is scored.** The grader correlates your kernel `k` (no padding) with test images whose edges
            step from 0 to a contrast `c`, and takes the strongest response of each kind of image. Call `T` the
            strongest (most positive) response to the edge asked for, and `‖k‖` the kernel's size, the square
            root of the sum of its squared weights. Each case is worth {sum(KERNEL_DESIGN["weights"]):g} points:

            | criterion | points | passes when |
            | --- | --- | --- |
            | flat regions give nothing | {KERNEL_DESIGN["weights"][0]:g} | every response to a flat image is at most `{KERNEL_DESIGN["flat_ratio"]} x ‖k‖ x c` in size (so the weights must sum to 0) |
            | the right sign | {KERNEL_DESIGN["weights"][1]:g} | `T >= {KERNEL_DESIGN["min_response"]} x ‖k‖ x c`, and the same edge with its colours swapped (bright below-left) gives at most `{KERNEL_DESIGN["reversed_ratio"]} x T` |
            | the right orientation | {KERNEL_DESIGN["weights"][2]:g} | the other diagonal (top-right to bottom-left, either sign) gives at most `{KERNEL_DESIGN["other_ratio"]} x T` in size, horizontal and vertical edges at most `{KERNEL_DESIGN["straight_ratio"]} x T` |

            Every criterion compares responses, so doubling or halving a kernel changes nothing. A kernel that
            measures the brightness change across the diagonal answers a straight edge too, with about
            `cos 45° = 0.71` of its diagonal response: that passes; what does not is a kernel that answers straight
            edges as strongly as the diagonal one. The public case runs a 10x10 image set; a hidden one runs 14x14
            images of contrast 255 with a little noise. Hint: `sobel_x` weighs the left column against the right
            one; turn it by 45 degrees so that it weighs the top-right corner against the bottom-left one, and mind
            which side must be positive.
            """),
        "diagonal_edge_kernel",
        demo_code("""
            @picture
            def _():
                k = diagonal_edge_kernel()
                yy, xx = np.mgrid[:32, :32]
                tests = {"asked for: bright above-right": (xx > yy).astype(float),
                         "colours swapped": (xx <= yy).astype(float),
                         "other diagonal": (xx + yy > 31).astype(float), "vertical edge": (xx > 16).astype(float),
                         "horizontal edge": (yy > 16).astype(float)}
                outs = {name: correlate2d(img, k) for name, img in tests.items()}     # valid: no zero border
                lim = max(np.abs(out).max() for out in outs.values()) or 1.0         # one symmetric colour scale
                fig, axes = plt.subplots(2, len(tests), figsize=(16, 6.8), layout="constrained")
                for col, (name, img) in enumerate(tests.items()):
                    axes[0, col].imshow(img, cmap="gray", vmin=0, vmax=1); axes[0, col].set_title(name, fontsize=9)
                    im = axes[1, col].imshow(outs[name], cmap="RdBu_r", vmin=-lim, vmax=lim)
                    axes[1, col].set_title(f"max {outs[name].max():.2f}, min {outs[name].min():.2f}", fontsize=9)
                for ax in axes.flat:
                    ax.set_xticks([]); ax.set_yticks([])                          # framed: white meets white
                fig.colorbar(im, ax=axes[1].tolist(), shrink=0.8, label="response (red +, blue -)")
                plt.show()
                photo = rgb_to_grayscale(PHOTO[::3, ::3]) / 255
                plt.figure(figsize=(5, 5)); out = correlate2d(photo, k); lim = np.abs(out).max()
                plt.imshow(out, cmap="RdBu_r", vmin=-lim, vmax=lim); plt.axis("off"); plt.colorbar(shrink=0.8)
                plt.title("the photograph: red where it brightens towards the top-right"); plt.show()
            """),
        *receptive_field_cells(),
        markdown("""
            ## What you built

            `rgb_to_grayscale`, `output_size`, `zero_pad`, `correlate2d`, `convolve2d`, `conv2d_forward` — the
            forward pass of a convolution layer, the part of a CNN that finds patterns — and `receptive_field`,
            how far a stack of them sees. Next assignment: ReLU, pooling, flatten, the dense layer and softmax turn those feature maps into a prediction.
            """),
    ]


if __name__ == "__main__":
    import sys

    raise SystemExit(nb.script_main(sys.modules[__name__]))
