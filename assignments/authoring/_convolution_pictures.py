"""The convolution notebook's number-grid pictures: the slides' worked examples drawn as the slides draw them
(the input with the kernel's window outlined, the kernel, the result; padding's zeros shaded, an erratum's cell
filled magenta, the slide's value above the right one), and the colour-filter pictures of section 6.

The drawing helpers are notebook code (a demo cell), not an import: the release runs without this kit's modules.
"""
from __future__ import annotations

from assignments.authoring import nb
from assignments.authoring.nb import demo_code


def _example(example_id: str):
    from reference.slides import by_id

    return by_id(example_id)


def grid_helpers():
    """The demo cell that defines ``draw_grid`` and ``show_correlation`` (used by the number-grid pictures)."""
    return demo_code('''
        # Number grids as the slides draw them (pictures only, never graded).
        def draw_grid(ax, grid, title, *, shade=None, windows=(), inset=0.0, slide=None, lim=None):
            """A small array as a table of its numbers.

            shade: True where a cell is shaded grey (the zeros that padding adds); windows: (row, col, height,
            width, colour) rectangles outlined, each pulled in by `inset` so that overlapping windows stay apart;
            slide: what the slide prints, the same shape: a cell where it differs is filled magenta, the slide's
            value written above the right one; lim: cells coloured on the symmetric scale -lim..lim (red +, blue -).
            """
            grid = np.asarray(grid, dtype=float)
            h, w = grid.shape
            if lim:
                ax.imshow(grid, cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.45)
            else:
                ax.imshow(np.zeros_like(grid), cmap="Greys", vmin=0, vmax=1)
            if shade is not None:
                ax.imshow(np.where(shade, 1.0, np.nan), cmap="Greys", vmin=0, vmax=4)     # NaN: not shaded
            size = 10 if max(h, w) <= 5 else 8
            for (r, c), v in np.ndenumerate(grid):
                ax.text(c, r, f"{v + 0.0:g}", ha="center", va="center", fontsize=size)       # + 0.0: no "-0"
            for r, c, hh, ww, colour in windows:
                ax.add_patch(plt.Rectangle((c - 0.5 + inset, r - 0.5 + inset), ww - 2 * inset, hh - 2 * inset,
                                           fill=False, ec=colour, lw=2.5))
            if slide is not None:
                for r, c in zip(*np.nonzero(~np.isclose(grid, slide))):
                    ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, color="magenta", alpha=0.25, lw=0))
                    ax.text(c, r - 0.32, f"slide: {slide[r, c]:g}", ha="center", va="center", fontsize=7,
                            color="darkmagenta")
            ax.set_xticks(np.arange(-0.5, w), minor=True); ax.set_yticks(np.arange(-0.5, h), minor=True)
            ax.grid(which="minor", color="0.6", lw=0.6)
            ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
            ax.set_title(title, fontsize=10)


        def grid_figure(grids, title):
            """A row of axes for number grids, each as wide as its grid (at least 3 cells, so titles stay apart)."""
            widths = [max(np.shape(g)[1], 3) for g in grids]
            height = max(np.shape(g)[0] for g in grids)
            fig, axes = plt.subplots(1, len(grids), figsize=(0.62 * sum(widths) + 0.6, 0.62 * height + 1.3),
                                     layout="constrained", gridspec_kw={"width_ratios": widths})
            fig.suptitle(title)
            return fig, axes


        def show_correlation(image, kernel, out, at, title, slide=None):
            """One worked example in four grids: the image with the window of output[at] outlined, the kernel,
            that window times the kernel (what is summed), and the output with that cell outlined."""
            r, c = at
            kh, kw = kernel.shape
            products = image[r:r + kh, c:c + kw] * kernel
            fig, axes = grid_figure([image, kernel, products, out], title)
            draw_grid(axes[0], image, f"image {image.shape}", windows=[(r, c, kh, kw, "red")], inset=0.06)
            draw_grid(axes[1], kernel, f"kernel {kernel.shape}")
            draw_grid(axes[2], products, f"window x kernel\\nsum {products.sum():.4g}")
            draw_grid(axes[3], out, f"output {out.shape}", windows=[(r, c, 1, 1, "red")], inset=0.06, slide=slide)
            plt.show()
        ''')


def _one_correlation(example: str, names: tuple[str, str], comment: str, title: str):
    """A slide's example (image and kernel) correlated and drawn at its first window."""
    ex = _example(example)
    image, kernel = names
    return demo_code(f"""
        @picture
        def _():
            # {comment}
            {image} = {nb.array_literal(ex.args[0], 15 + len(image))}
            {kernel} = {nb.array_literal(ex.args[1], 15 + len(kernel))}
            show_correlation({image}, {kernel}, correlate2d({image}, {kernel}), (0, 0),
                             "{title}")
        """)


def x_kernel_binary():
    """Deck 001's X kernel on its binary 5x5 image (end of section 2)."""
    return _one_correlation("x-kernel-binary", ("image", "x_kernel"),
                            "Deck 001: the X kernel slid over a binary 5x5 image; the window of output[0, 0] outlined.",
                            "deck 001: multiply element-wise and sum, at every location")


def emboss_patch():
    """Deck 004's emboss kernel on one 3x3 patch of a photograph (after the kernel gallery)."""
    return _one_correlation("emboss-patch", ("patch", "emboss"),
                            "Deck 004: the emboss kernel on one 3x3 patch of a photograph: one window, one number.",
                            "deck 004: the emboss kernel on a 3x3 patch")


def digit_and_sharpen():
    """Section 5, after the puzzles' answers: the 6x6 digit's erratum and the padded-and-strided sharpen, drawn."""
    digit, pad1, stride2 = _example("digit-6x6"), _example("sharpen-pad1"), _example("sharpen-pad1-stride2")
    return demo_code(f"""
        @picture
        def _():
            digit = {nb.array_literal(digit.args[0], 20)}
            x_kernel = {nb.array_literal(digit.args[1], 23)}
            slide_digit = {nb.array_literal(digit.slide, 26)}
            show_correlation(digit, x_kernel, correlate2d(digit, x_kernel), (1, 0),
                             "deck 003: the X kernel on the 6x6 digit (the slide's slip in magenta)",
                             slide=slide_digit)

            binary = {nb.array_literal(pad1.args[0], 21)}
            sharpen = {nb.array_literal(pad1.args[1], 22)}
            slide_pad1 = {nb.array_literal(pad1.slide, 25)}
            slide_stride2 = {nb.array_literal(stride2.slide, 28)}
            padded = zero_pad(binary, 1)
            same, strided = correlate2d(binary, sharpen, pad=1), correlate2d(binary, sharpen, pad=1, stride=2)
            colours = plt.cm.tab10(np.arange(9))
            starts = [(2 * i, 2 * j) for i in range(3) for j in range(3)]        # stride 2: every second window
            fig, axes = grid_figure([padded, sharpen, same, strided],
                                    "deck 002: the sharpen kernel, padded and strided (the slides' slip in magenta)")
            draw_grid(axes[0], padded, "pad=1: the zero ring shaded,\\nthe 9 windows of stride 2",
                      shade=np.pad(np.zeros(binary.shape, bool), 1, constant_values=True),
                      windows=[(r, c, 3, 3, colour) for (r, c), colour in zip(starts, colours)], inset=0.1)
            draw_grid(axes[1], sharpen, "sharpen kernel")
            draw_grid(axes[2], same, f"pad=1: {{same.shape}};\\nstride 2 keeps the framed cells",
                      windows=[(r, c, 1, 1, colour) for (r, c), colour in zip(starts, colours)], inset=0.06,
                      slide=slide_pad1)
            draw_grid(axes[3], strided, f"pad=1, stride=2:\\n{{strided.shape}}",
                      windows=[(i, j, 1, 1, colours[3 * i + j]) for i in range(3) for j in range(3)], inset=0.06,
                      slide=slide_stride2)
            plt.show()
        """)


def padding_settings():
    """Section 5's table of settings, as number grids of deck 002's binary image and sharpen kernel."""
    ex = _example("sharpen-pad1")
    return demo_code(f"""
        @picture
        def _():
            image = {nb.array_literal(ex.args[0], 20)}
            sharpen = {nb.array_literal(ex.args[1], 22)}
            settings = [("valid", dict(pad="valid")), ("same", dict(pad="same")), ("full", dict(pad="full")),
                        ("pad=1, stride=2", dict(pad=1, stride=2)), ("stride=(1, 2)", dict(stride=(1, 2)))]
            outs = [(name, correlate2d(image, sharpen, **kw)) for name, kw in settings]
            lim = max(np.abs(out).max() for _, out in outs)                    # one symmetric scale for all
            fig, axes = grid_figure([image] + [out for _, out in outs],
                                    "one image, one kernel (sharpen), five settings of pad and stride")
            draw_grid(axes[0], image, f"input\\n{{image.shape}}")
            for ax, (name, out) in zip(axes[1:], outs):
                draw_grid(ax, out, f"{{name}}\\n{{out.shape}}", lim=lim)
            plt.show()
            for n, k, s, p in [(5, 3, 1, 0), (5, 3, 1, 1), (5, 3, 2, 1), (28, 5, 1, 2), (224, 7, 2, 3)]:
                print(f"n={{n:3d}} k={{k}} stride={{s}} pad={{p}}  ->  output_size = {{output_size(n, k, s, p)}}")
        """)


def colour_filters():
    """Section 6: four filters on the colour photo (signed maps on symmetric scales), then how one filter's map is
    made: its three per-channel correlations, their sum, the bias."""
    return demo_code("""
        @picture
        def _():
            x = PHOTO[::3, ::3].transpose(2, 0, 1)[None] / 255.0          # (1, 3, H, W)
            sobel, blur = KERNELS["sobel_x"], KERNELS["box_blur"]
            w = np.stack([np.stack([sobel, sobel, sobel]),                  # vertical edges, any colour
                          np.stack([sobel.T, sobel.T, sobel.T]),            # horizontal edges
                          np.stack([blur, -blur / 2, -blur / 2]),           # "redness": red minus the mean of the rest
                          np.stack([np.zeros((3, 3)), np.zeros((3, 3)), KERNELS["laplacian"]])])  # blue detail
            b = np.array([0.0, 0.0, -0.1, 0.0])                             # map 2: only "red by more than 0.1"
            out = conv2d_forward(x, w, b, pad=1)
            names = ["vertical edges", "horizontal edges", "red minus the rest", "blue Laplacian"]
            fig, axes = plt.subplots(1, 5, figsize=(18, 3.9), layout="constrained")
            axes[0].imshow(PHOTO[::3, ::3]); axes[0].set_title(f"x {x.shape}")
            for f, (ax, name) in enumerate(zip(axes[1:], names)):
                m = np.abs(out[0, f]).max()                                  # signed map: limits -m..m, 0 is white
                im = ax.imshow(out[0, f], cmap="RdBu_r", vmin=-m, vmax=m)
                ax.set_title(f"map {f}: {name}", fontsize=10)
                fig.colorbar(im, ax=ax, shrink=0.8)
            for ax in axes:
                ax.axis("off")
            fig.suptitle(f"w {w.shape}, b {b.shape} -> out {out.shape}  (red +, blue -, white 0)")
            plt.show()

            f = 2                                                           # how map 2 is made
            parts = [correlate2d(x[0, c], w[f, c], pad=1) for c in range(3)]
            total = sum(parts)
            panels = [(f"x[0, {c}] ({colour}) with w[{f}, {c}]", part)
                      for c, (colour, part) in enumerate(zip(["red", "green", "blue"], parts))]
            panels += [("sum of the three", total), (f"+ b[{f}] = {b[f]:g}: out[0, {f}]", total + b[f])]
            m = max(np.abs(p).max() for _, p in panels)                     # one scale: the maps add up
            fig, axes = plt.subplots(1, 5, figsize=(18, 3.9), layout="constrained")
            for ax, (title, p) in zip(axes, panels):
                im = ax.imshow(p, cmap="RdBu_r", vmin=-m, vmax=m); ax.set_title(title, fontsize=10); ax.axis("off")
            fig.colorbar(im, ax=axes.tolist(), shrink=0.8)
            fig.suptitle("one filter, three channels: out[n, f] = b[f] + sum over c of correlate2d(x[n, c], w[f, c])")
            plt.show()
            print("out[0, 2] == the sum of the three maps + b[2]:", np.allclose(out[0, f], total + b[f]))
        """)
