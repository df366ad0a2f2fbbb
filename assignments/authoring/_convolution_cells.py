"""The first two sections of the convolution notebook (an image is a grid of numbers; the sliding window), and
the helpers both halves use; the rest of the notebook is in :mod:`assignments.authoring.convolution`."""
from __future__ import annotations

from assignments.authoring import nb
from assignments.authoring._convolution_pictures import grid_helpers, x_kernel_binary
from assignments.authoring.nb import demo_code, markdown
from autograder.suites import assignment

TITLE = assignment("convolution").title


def _kernels_source() -> str:
    import reference

    rows = [f"    {name!r}: {nb.array_literal(k, indent=4 + len(repr(name)) + 2)},"
            for name, k in reference.KERNELS.items()]
    return "\n".join(["# The slides' named 3x3 kernels (provided, not graded).", "KERNELS = {", *rows, "}"])


def _example(example_id: str):
    from reference.slides import by_id

    return by_id(example_id)


def grid_and_window() -> list:
    """Sections 1 and 2, in reading order (a plain string ``"fn"`` marks where fn's solution and check cells go)."""
    first, sharpen = _example("first-correlation"), _example("sharpen-valid")
    return [
        markdown(f"""
            # Assignment 1 — {TITLE}

            A convolutional neural network (CNN) looks at an image through many small windows at once. In this
            assignment you build its first layer from scratch in NumPy, one idea at a time, exactly as the slides
            introduce them: images as numbers, the sliding window, correlation and convolution, the classic
            kernels, padding and stride, and filters that look at every colour channel.

            **How to work.** Each function you write sits in a cell ending in `raise NotImplementedError()`:
            replace that line with your code (keep the signature, the docstring and the input checks above it).
            The cell after it *checks* your function on the public cases and tells you which case failed and why,
            often naming the mistake. The grader runs the same public cases plus hidden ones, so make the function
            right, not just the printed cases. You can also run `pytest` in this folder (`pytest -m correlate2d`
            checks one function). The pictures are made with *your* functions, so they appear once you implement
            them.

            Shapes use one set of letters everywhere: `N` images, `C` channels, `H, W` height and width,
            `F` filters, `KH, KW` kernel size, `SH, SW` stride, `PH, PW` padding, `H', W'` output size.
            """),
        nb.setup_cell(nb.provided_checks() + "\n\n\n" + _kernels_source()),
        nb.picture_helpers(),
        grid_helpers(),
        demo_code("""
            # The photograph: Grace Hopper, shipped inside matplotlib (no download).
            import matplotlib.cbook as cbook

            PHOTO = plt.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
            print("PHOTO:", PHOTO.shape, PHOTO.dtype, "values from", PHOTO.min(), "to", PHOTO.max())
            """),
        markdown("""
            ## 1. An image is a grid of numbers

            To a computer a photograph is a table of numbers, one per pixel, usually between 0 (black) and 255
            (white). A 28x28 digit is 784 numbers; a 100x100 photo is already 10,000. Colour takes three
            numbers per pixel — how much **R**ed, **G**reen and **B**lue light to mix — so a colour image is an
            `(H, W, 3)` array: three grids stacked. `(255, 0, 0)` is pure red, `(255, 255, 0)` yellow
            (red + green light), `(0, 0, 255)` blue, `(153, 51, 255)` purple.

            Below: the photograph, a tiny patch of it with the red values written in, and its three channels.
            """),
        demo_code("""
            @picture
            def _():
                fig, axes = plt.subplots(1, 5, figsize=(17, 3.8))
                top, left, size = 150, 200, 10       # a 10x10 patch of the cap
                axes[0].imshow(PHOTO)
                axes[0].add_patch(plt.Rectangle((left, top), size, size, fill=False, color="yellow", lw=2))
                axes[0].set_title("(H, W, 3) uint8")
                patch = PHOTO[top:top + size, left:left + size, 0]
                axes[1].imshow(patch, cmap="Reds_r", vmin=0, vmax=255)
                for (r, c), v in np.ndenumerate(patch):
                    axes[1].text(c, r, v, ha="center", va="center", fontsize=6)
                axes[1].set_title("red values of the yellow square")
                for ax, ch, cmap in zip(axes[2:], range(3), ["Reds", "Greens", "Blues"]):
                    ax.imshow(PHOTO[..., ch], cmap=cmap + "_r")
                    ax.set_title(f"channel {ch} ({cmap[:-1].lower()})")
                for ax in axes:
                    ax.axis("off")
                plt.show()
            """),
        markdown("""
            ### From colour to grey

            Our eyes are most sensitive to green and least to blue, so a faithful grey level is a *weighted* sum
            of the three channels. The ITU-R 601 standard (used by JPEG and PIL) takes

            $$Y = 0.299\\,R + 0.587\\,G + 0.114\\,B .$$

            Implement `rgb_to_grayscale`: the result is a float `(H, W)` array on the same 0..255 scale as the
            input (a float image stays float: float32 in, float32 out). One matrix product over the last axis does
            it for every pixel at once.
            """),
        "rgb_to_grayscale",
        demo_code("""
            @picture
            def _():
                gray = rgb_to_grayscale(PHOTO)
                fig, axes = plt.subplots(1, 2, figsize=(8, 4.5))
                axes[0].imshow(PHOTO); axes[0].set_title("RGB (H, W, 3)")
                axes[1].imshow(gray, cmap="gray"); axes[1].set_title(f"grayscale {gray.shape} {gray.dtype}")
                for ax in axes:
                    ax.axis("off")
                plt.show()
            """),
        markdown(f"""
            ## 2. The sliding window

            We recognise a bird by small, specific patterns — a beak, an eye, feathers — wherever they are in the
            picture. A convolution layer looks for one small pattern everywhere: it lays a small grid of weights,
            the **kernel** (or filter), over a patch of the image, multiplies each pixel by the weight on top of
            it, adds the products up, and writes that one number into the output. Then it slides one step and
            repeats. The grid of results is a **feature map**: large where the patch looks like the kernel.

            The first slide's example slides a 2x2 kernel over a 3x3 image:
            `(0x0) + (1x1) + (3x2) + (4x3) = 19` at the top-left, and the whole feature map is
            `{first.expected.astype(int).tolist()}`.

            To watch a kernel slide, the deck links [CNN Explainer](https://poloclub.github.io/cnn-explainer/):
            click any map of the first layer, `conv_1_1`, and it animates the 3x3 window moving over the input,
            the products under it, and the one number each position writes; hover over a cell of the output to
            see the window it comes from. Its article, further down the page, has a widget where you set the input size, padding,
            kernel size and stride (section 5 of this notebook) and see the output size change.
            """),
        demo_code(f"""
            def draw_window(ax, image, kernel, row, col, title):
                \"\"\"The image with its numbers, the kernel's window at (row, col) outlined.\"\"\"
                ax.imshow(image, cmap="Blues", alpha=0.6)
                for (r, c), v in np.ndenumerate(image):
                    ax.text(c, r, f"{{v:g}}", ha="center", va="center")
                kh, kw = kernel.shape
                ax.add_patch(plt.Rectangle((col - 0.5, row - 0.5), kw, kh, fill=False, color="red", lw=3))
                for (i, j), v in np.ndenumerate(kernel):
                    ax.text(col + j + 0.3, row + i + 0.3, f"x{{v:g}}", color="red", fontsize=8)
                ax.set_title(title); ax.set_xticks([]); ax.set_yticks([])


            image = {nb.array_literal(first.args[0], 8)}
            kernel = {nb.array_literal(first.args[1], 9)}
            fig, axes = plt.subplots(1, 4, figsize=(14, 3.5))
            for ax, (r, c) in zip(axes, [(0, 0), (0, 1), (1, 0), (1, 1)]):
                value = np.sum(image[r:r + 2, c:c + 2] * kernel)
                draw_window(ax, image, kernel, r, c, f"output[{{r}}, {{c}}] = {{value:g}}")
            plt.show()
            """),
        markdown("""
            ### How big is the output?

            A kernel `k` wide fits in `n - k + 1` positions across an image `n` wide. Two more ideas, explained
            just below, change that count: **padding** adds `p` rings of zeros around the image (it becomes
            `n + 2p` wide), and **stride** `s` moves the window `s` pixels at a time instead of one. Together:

            $$n' = \\left\\lfloor \\frac{n + 2p - k}{s} \\right\\rfloor + 1 \\quad \\text{(in Python: `(n + 2*p - k) // s + 1`)}$$

            Implement `output_size(n, k, stride=1, pad=0)`. When the kernel does not fit in the padded image
            (`k > n + 2p`) there is no output at all: raise a `ValueError` that says so.
            """),
        "output_size",
        markdown("""
            ### Padding and stride

            Without padding the border pixels are under fewer windows than the centre ones, and the image shrinks
            at every layer. **Padding** surrounds the image with zeros first. The slides name three choices, for
            a kernel `k` wide and stride 1:

            | padding | zeros on each side | output size |
            | --- | --- | --- |
            | **valid** (narrow) | 0 | `n - k + 1` |
            | **same** | `(k - 1) / 2` | `n` (the input's size) |
            | **full** (wide) | `k - 1` | `n + k - 1` (every overlap of kernel and image) |

            Rows and columns may be padded differently: `pad=(PH, PW)` adds `PH` rows of zeros at the top and at the
            bottom and `PW` columns at the left and at the right (an int `p` means `(p, p)`). "same" needs
            `k - 1` zeros in all, which an **even** kernel cannot split equally: a 2x2 kernel needs one zero row
            and one zero column, and, like PyTorch, we put the extra one at the **bottom/right** (top `(KH - 1) // 2`,
            bottom `KH // 2`; left `(KW - 1) // 2`, right `KW // 2`). "full" pads `KH - 1` rows and `KW - 1`
            columns on every side.

            **Stride** skips positions: with stride `s` the windows start every `s` pixels (stride 2 keeps every
            second window, roughly halving each side), and `stride=(SH, SW)` steps `SH` rows down and `SW` columns
            across.

            `zero_pad(x, pad)` does the padding: it surrounds the last two axes of `x` with `pad` zeros on *both*
            sides (`pad` is an int or an `(PH, PW)` pair), whatever axes come before: `(H, W)` becomes
            `(H + 2*PH, W + 2*PW)` and `(N, C, H, W)` becomes `(N, C, H + 2*PH, W + 2*PW)`. Keep the dtype of `x`.
            """),
        "zero_pad",
        demo_code("""
            @picture
            def _():
                image = np.arange(1.0, 13.0).reshape(3, 4)
                panels = [("valid: no zeros", image), ("pad=1", zero_pad(image, 1)), ("pad=(1, 2)", zero_pad(image, (1, 2))),
                          ("same for a 2x2 kernel:\\nthe extra zeros bottom/right", np.pad(image, ((0, 1), (0, 1)))),
                          ("full for a 3x3 kernel: pad=2", zero_pad(image, 2))]
                fig, axes = plt.subplots(1, len(panels), figsize=(18, 3.6))
                for ax, (title, grid) in zip(axes, panels):
                    ax.imshow(grid == 0, cmap="Greys", vmin=0, vmax=3)       # the zeros shaded
                    for (r, c), v in np.ndenumerate(grid):
                        ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=8)
                    ax.set_title(f"{title}\\n{grid.shape}", fontsize=9); ax.set_xticks([]); ax.set_yticks([])
                plt.show()
            """),
        markdown("""
            ### Correlate

            Now the sliding window itself. `correlate2d(image, kernel, stride=1, pad=0)` takes one `(H, W)`
            image and one `(KH, KW)` kernel and returns the `(H', W')` feature map. `pad` is an int, an
            `(PH, PW)` pair, or one of the table's names: `"valid"`, `"same"` (stride 1 only; an even kernel's
            extra zero row/column at the bottom/right) or `"full"`. `stride` is an int or an `(SH, SW)` pair.

            **A hint that makes it fast.** The obvious code loops over the `H' x W'` output pixels. The same sum can
            be split the other way: for each of the `KH x KW` kernel weights `kernel[i, j]`, the pixels it
            multiplies, over all windows at once, form the strided slice
            `padded[i : i + SH*(H'-1) + 1 : SH, j : j + SW*(W'-1) + 1 : SW]`. Nine slices for a 3x3 kernel,
            whatever the image size.
            """),
        "correlate2d",
        markdown(f"""
            Check yourself on the sharpen example of the slides: the 5x5 binary image, kernel
            `[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]`, no padding, gives `{sharpen.expected.astype(int).tolist()}`.
            """),
        demo_code(f"""
            @picture
            def _():
                image = {nb.array_literal(sharpen.args[0], 16)}
                sharpen = {nb.array_literal(sharpen.args[1], 18)}
                print(correlate2d(image, sharpen))
            """),
        markdown("""
            Deck 001's example drawn as the slide draws it: the X kernel on a binary 5x5 image. The window of
            `output[0, 0]` is outlined; its pixels times the kernel's weights, summed, give that one number.
            """),
        x_kernel_binary(),
    ]
