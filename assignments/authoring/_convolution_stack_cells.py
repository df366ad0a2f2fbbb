"""Two ideas of the decks that the convolution notebook adds to its sliding window and its layer (issue 11):
translation equivariance (the end of section 2, once ``correlate2d`` exists) and the receptive field of stacked
layers (section 8, the graded ``receptive_field``). Their numbers are the reference's, computed when the notebook
is written; the pictures are drawn with the student's own functions."""
from __future__ import annotations

from assignments.authoring.nb import demo_code, markdown

__all__ = ["SHIFT", "DECK_004", "shift_equivariance", "receptive_field_cells"]

SHIFT = (6, 10)  # (rows down, columns right) the photograph moves in the equivariance picture
# Deck 004's network for 28x28 digits: (layer, kernel or window side, stride, padding); 28 -> 14 -> 7.
DECK_004 = (("conv 5x5, pad 2", 5, 1, 2), ("max pool 2x2", 2, 2, 0), ("conv 5x5, pad 2", 5, 1, 2),
            ("max pool 2x2", 2, 2, 0))


def shift_equivariance() -> list:
    """The end of section 2: shift the photograph, and the feature map shifts with it (away from the border)."""
    dy, dx = SHIFT
    return [
        markdown(f"""
            ### Shift the image, shift the map

            Deck 001 gives a second reason for CNNs: *positions can change*, and "we want to be able to detect a
            thing regardless of where it appears in the image". The sliding window does that by construction: the
            same kernel is used at every position, so moving the image moves the feature map with it, by the same
            number of pixels. For a shift `shift`,

            $$\\text{{correlate2d}}(\\text{{shift}}(x), k) = \\text{{shift}}(\\text{{correlate2d}}(x, k)) ,$$

            correlation is **translation equivariant** (the same pattern gives the same answer, moved). Only a band
            along the border differs: there one map's window reads zeros (the padding, or the zeros that came in
            with the shift) where the other's reads pixels.

            The cell below moves the photograph {dy} pixels down and {dx} to the right, correlates with `sobel_x`
            before and after, and prints the largest difference inside and in that band, using your `correlate2d`.
            """),
        demo_code(f"""
            @picture
            def _():
                gray = PHOTO[160:320:2, 140:300:2].mean(axis=2) / 255.0   # the face, 80x80 (grey enough: R, G, B averaged)
                kernel = KERNELS["sobel_x"]
                dy, dx = {dy}, {dx}

                def shift(img):
                    \"\"\"img moved dy rows down and dx columns right; zeros come in at the top and the left.\"\"\"
                    out = np.zeros_like(img)
                    out[dy:, dx:] = img[:img.shape[0] - dy, :img.shape[1] - dx]
                    return out

                shifted_first = correlate2d(shift(gray), kernel, pad="same")
                shifted_after = shift(correlate2d(gray, kernel, pad="same"))
                diff = shifted_first - shifted_after
                m = kernel.shape[0] // 2                          # how far the window reaches past its centre
                inside = np.zeros(diff.shape, dtype=bool)
                inside[dy + m:diff.shape[0] - m, dx + m:diff.shape[1] - m] = True
                print(f"largest |difference| inside: {{np.abs(diff[inside]).max():.3g}}, "
                      f"in the border band: {{np.abs(diff[~inside]).max():.3g}}")
                lim = np.abs(shifted_after).max()                   # one symmetric colour scale for the three maps
                fig, axes = plt.subplots(1, 5, figsize=(19, 4.6))
                axes[0].imshow(gray, cmap="gray", vmin=0, vmax=1); axes[0].set_title("x", fontsize=10)
                axes[1].imshow(shift(gray), cmap="gray", vmin=0, vmax=1)
                axes[1].set_title(f"shift(x): {{dy}} down, {{dx}} right", fontsize=10)
                panels = [("correlate2d(shift(x), sobel_x)", shifted_first), ("shift(correlate2d(x, sobel_x))", shifted_after),
                          ("their difference:\\nzero inside the dashed box", diff)]
                for ax, (title, img) in zip(axes[2:], panels):
                    im = ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
                    ax.set_title(title, fontsize=10)
                h, w = diff.shape
                axes[4].add_patch(plt.Rectangle((dx + m - 0.5, dy + m - 0.5), w - dx - 2 * m, h - dy - 2 * m,
                                                fill=False, color="k", lw=1.5, ls="--"))
                for ax in axes:
                    ax.set_xticks([]); ax.set_yticks([])
                fig.colorbar(im, ax=axes.tolist(), shrink=0.8, label="response (red +, blue -)")
                plt.show()
            """),
    ]


def receptive_field_cells() -> list:
    """Section 8 (a plain string ``"fn"`` marks where fn's solution and check cells go); the answers it states are
    the reference's: two, three and four stacked 3x3 kernels, and deck 004's network."""
    from reference.conv import receptive_field

    r_two, r_three, r_four = (receptive_field((3,) * depth, (1,) * depth) for depth in (2, 3, 4))
    r_deck = receptive_field([k for _, k, _, _ in DECK_004], [s for _, _, s, _ in DECK_004])
    return [
        markdown("""
            ## 8. Stacking layers: the receptive field

            One value of a feature map depends on a small window of the layer's input, its **receptive field**
            (deck 003: "each neuron has its own local receptive field"). Stack a second 3x3 layer on the first: one
            output of layer 2 reads a 3x3 window of layer 1's map, and each of those nine values read a 3x3 window
            of the image, each one pixel further along than its neighbour. Each layer adds `k - 1` to the side of
            the window.

            Strides make it grow faster: after a layer of stride `s`, neighbouring values of its map lie `s` pixels
            apart in the image, so every step of the next layer's `k - 1` counts `s` pixels. For layers with kernel
            sizes `k_0, k_1, ...` and strides `s_0, s_1, ...`, the first layer first,

            $$r = 1 + \\sum_i (k_i - 1) \\prod_{j < i} s_j$$

            (the product is 1 for the first layer, and the last layer's own stride is in no product: it only
            spaces the outputs). A pooling layer counts as a layer, `k` its window and `s` its stride; padding
            changes the size of a map, not `r`. Implement `receptive_field(kernel_sizes, strides)`: one loop over
            the layers, keeping the product of the strides so far.

            **Puzzle (deck 003).** The slide says "stacking 2 3x3 kernels is preferable to 1 9x9 kernel". Which
            window do two stacked 3x3 kernels see? How many stacked 3x3 kernels does it take to see 9x9? Work it
            out, then ask your function.
            """),
        "receptive_field",
        demo_code("""
            @picture
            def _():
                r = receptive_field((3, 3), (1, 1))                   # your function: two stacked 3x3 layers
                # How many of layer 1's nine 3x3 windows hold each pixel of the r x r window (1, 2, 3, 2, 1 across):
                across = np.convolve(np.ones(3), np.ones(3))
                paths = np.outer(across, across)
                n = r + 2                                             # an input a little larger than the window
                maps = [("input", n, f"the output of layer 2 sees {r}x{r} pixels\\n(numbers: through how many layer-1 values)"),
                        ("layer 1 (3x3 kernel)", n - 2, "the output reads 3x3 of it\\n(dashed: what one of those sees)"),
                        ("layer 2 (3x3 kernel)", n - 4, "one output")]
                shades = [np.zeros((side, side)) for _, side, _ in maps]
                shades[0][1:1 + r, 1:1 + r] = paths
                shades[1][1:4, 1:4] = 1
                shades[2][1, 1] = 1
                fig, axes = plt.subplots(1, 3, figsize=(15, 5.4), gridspec_kw={"width_ratios": [n, n - 2, n - 4]})
                for ax, (name, side, caption), shade in zip(axes, maps, shades):
                    ax.imshow(shade, cmap="Blues", vmin=0, vmax=1.6 * shade.max())
                    ax.set_xticks(np.arange(-0.5, side), minor=True); ax.set_yticks(np.arange(-0.5, side), minor=True)
                    ax.grid(which="minor", color="0.6", lw=0.8)
                    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
                    ax.set_title(f"{name}, {side}x{side}:\\n{caption}", fontsize=9)
                for (i, j), v in np.ndenumerate(shades[0]):
                    if v:
                        axes[0].text(j, i, f"{v:g}", ha="center", va="center")
                for ax, size in zip(axes, (r, 3, 1)):                 # the windows of the one output of layer 2
                    ax.add_patch(plt.Rectangle((0.5, 0.5), size, size, fill=False, color="red", lw=3, zorder=3))
                for ax, size in zip(axes[:2], (3, 1)):                # layer 1's top-left value of that window
                    ax.add_patch(plt.Rectangle((0.5, 0.5), size, size, fill=False, color="darkorange", lw=2, ls="--",
                                               zorder=4))
                plt.show()
                for depth in (2, 3, 4):
                    print(f"{depth} stacked 3x3 kernels see {receptive_field((3,) * depth, (1,) * depth)} pixels across")
            """),
        markdown(f"""
            <details><summary><b>The answer</b> (open once you have tried the puzzle)</summary>

            Two stacked 3x3 kernels see **{r_two}x{r_two}**, `3 + (3 - 1)`, not 9x9: they stand in for one 5x5
            kernel, with 2 x 9 = 18 weights instead of 25 (and a ReLU between them, so they can compute more than
            one 5x5 kernel can). Three see {r_three}x{r_three}, and it takes **four** to see
            {r_four}x{r_four}, `1 + 4 x 2`, with 36 weights instead of 81. The slide's 9 is `3 x 3`, the kernel
            sizes multiplied: a mistake the check above names.

            </details>

            Deck 004's network for 28x28 digits alternates 5x5 convolutions and 2x2 max pooling. Each of its last
            7x7 values sees {r_deck}x{r_deck} pixels, more than half the digit across:
            """),
        demo_code(f"""
            @picture
            def _():
                stack = {list(DECK_004)!r}
                size = 28
                for depth, (name, k, s, p) in enumerate(stack, start=1):
                    size = output_size(size, k, s, p)
                    r = receptive_field([k for _, k, _, _ in stack[:depth]], [s for _, _, s, _ in stack[:depth]])
                    print(f"after {{name:<16}} maps of {{size:2d}}x{{size:<2d}}, each value sees {{r:2d}}x{{r:<2d}} pixels of the digit")
            """),
    ]
