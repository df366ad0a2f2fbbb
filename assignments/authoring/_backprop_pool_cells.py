"""Sections 7 to 9 of the backprop notebook (max pooling, average pooling, the convolutional layer); sections 1
to 6 are in :mod:`assignments.authoring._backprop_cells`, the learn-a-kernel experiment that ends section 9 in
:mod:`assignments.authoring._backprop_learn_cells`."""
from __future__ import annotations

from assignments.authoring import nb
from assignments.authoring._backprop_learn_cells import learn_a_kernel

# The slides' 4x4 pooling example.
_SLIDES_POOL = "[[0, 55, 0, 0], [20, 0, 41, 33], [0, 90, 0, 0], [0, 57, 0, 95]]"


def pooling_and_conv() -> list:
    """Sections 7 to 9, in reading order (a plain string ``"fn"`` marks where fn's solution and check cells go)."""
    return [
        nb.markdown(f"""
            ## 7. Max pooling: the gradient flows to the maximum

            A max-pool window outputs its largest element. Nudging any other element of the window (a little)
            changes nothing, so their gradient is 0; nudging the maximum changes the output one for one. **The whole
            upstream gradient of a window goes to the element that won it.** The slides' example, a 4x4 input
            pooled 2x2 with stride 2:

            ```
            {_SLIDES_POOL}   ->   [[55, 41], [90, 95]]
            ```

            The gradient of output `(0, 0)` flows to the `55`, that of `(0, 1)` to the `41`, and so on; the twelve
            other inputs get 0.

            Two details matter in a real network:

            * **Ties.** After a ReLU many windows hold several equal maxima (often all zeros). The gradient must go to
              **one** of them, the first in row-major order (top row first, left to right), like PyTorch; sending it
              to every tied element would multiply it.
            * **Overlapping windows** (stride smaller than the window) may share an element that wins both: it
              **collects both** gradients (rule 2 above).

            Loop over the output positions `(i, j)`: cut the window, find the first maximum (`argmax` of the window
            reshaped to `KH*KW` values returns the first one), and add `dout[:, :, i, j]` there.
            """),
        "max_pool2d_backward",
        nb.demo_code(f'''
            @picture
            def _():
                x = np.array({_SLIDES_POOL}, dtype=float)[None, None]
                dout = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
                dx = max_pool2d_backward(dout, x)
                fig, axes = plt.subplots(1, 3, figsize=(11, 3.7))
                show_grid(axes[0], x[0, 0], "x (slides), the maxima framed", cmap="Greys")
                for (r, c) in zip(*np.nonzero(dx[0, 0])):
                    axes[0].add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="crimson", lw=3))
                show_grid(axes[1], dout[0, 0], "dout = dL/d(pooled)")
                show_grid(axes[2], dx[0, 0], "dx: each window's gradient\\nat its maximum")
                plt.show()
            '''),
        nb.demo_code('''
            @picture
            def _():
                ties = np.zeros((1, 1, 4, 4))
                ties[0, 0, 2:, 2:] = [[5, 5], [1, 5]]
                overlap = np.array([[1, 2, 0], [0, 9, 0], [3, 0, 4]], dtype=float)[None, None]
                fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
                show_grid(axes[0], ties[0, 0], "ties: x after a ReLU\\n(2x2 windows, stride 2)", cmap="Greys")
                show_grid(axes[1], max_pool2d_backward(np.ones((1, 1, 2, 2)), ties)[0, 0], "dx: one winner\\nper window")
                show_grid(axes[2], overlap[0, 0], "overlap: x\\n(2x2 windows, stride 1)", cmap="Greys")
                show_grid(axes[3], max_pool2d_backward(np.ones((1, 1, 2, 2)), overlap, size=2, stride=1)[0, 0],
                          "dx: the 9 wins\\nall 4 windows")
                plt.show()
                rng = np.random.default_rng(4)
                x = rng.standard_normal((2, 3, 6, 6))        # random values: no ties, so the slope is defined
                dout = rng.standard_normal((2, 3, 3, 3))
                report("dx", max_pool2d_backward(dout, x), numerical_gradient(max_pool2d, x, dout))
                dout = rng.standard_normal((2, 3, 2, 2))
                report("dx", max_pool2d_backward(dout, x, size=3, stride=2),
                       numerical_gradient(lambda v: max_pool2d(v, size=3, stride=2), x, dout))
            '''),
        nb.markdown("""
            ## 8. Average pooling: the gradient is shared

            An average-pool window outputs `sum(window) / (KH * KW)`: every element counts the same, with slope
            `1 / (KH * KW)`. So each window hands its upstream gradient out in equal shares, and overlapping windows
            add their shares, as before.
            """),
        "avg_pool2d_backward",
        nb.demo_code(f'''
            @picture
            def _():
                x = np.array({_SLIDES_POOL}, dtype=float)[None, None]
                dout = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
                fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
                show_grid(axes[0], dout[0, 0], "dout")
                show_grid(axes[1], max_pool2d_backward(dout, x)[0, 0], "max pool: all to the winner")
                show_grid(axes[2], avg_pool2d_backward(dout, x)[0, 0], "average pool: shared by four")
                plt.show()
                rng = np.random.default_rng(5)
                x = rng.standard_normal((2, 2, 5, 5))
                dout = rng.standard_normal((2, 2, 2, 2))
                report("dx", avg_pool2d_backward(dout, x, size=3, stride=2),
                       numerical_gradient(lambda v: avg_pool2d(v, size=3, stride=2), x, dout))
            '''),
        nb.markdown("""
            ## 9. The convolutional layer

            The forward pass (cross-correlation, as in assignment 1, one channel and stride 1 for now) is

            $$\\mathrm{out}(i, j) = \\sum_{x, y} \\mathrm{image}(i + x, j + y) \\cdot \\mathrm{filter}(x, y) + b$$

            where `x` runs over the filter's rows `0 .. KH-1` and `y` over its columns `0 .. KW-1`. (**An erratum:**
            deck 001 writes these sums as $\\sum_{x=0}^{3} \\sum_{y=0}^{3}$ for its 3x3 filter; a 3x3 filter has taps
            0, 1 and 2 only, so the sums run from 0 to 2, `range(KH)` in Python.)

            **The filter.** `out(i, j)` depends on `filter(x, y)` with slope `image(i + x, j + y)`, and the same
            filter weight is used at every position `(i, j)`. So, as in the slides, its gradient sums over all
            positions:

            $$\\frac{\\partial L}{\\partial \\mathrm{filter}(x, y)} = \\sum_{i}\\sum_{j}
              \\frac{\\partial L}{\\partial \\mathrm{out}(i, j)} \\cdot \\mathrm{image}(i + x, j + y)$$

            For a fixed tap `(x, y)`, `image(i + x, j + y)` over all `(i, j)` is just the image shifted by
            `(x, y)`, an `H' x W'` slice: `dw[x, y]` is the sum of `dout` times that slice. In other words, **`dw`
            is the correlation of the image with `dout`**. (Slides' check: an identity filter on the patch
            `[[0, 7, 0], [0, 80, 31], [33, 14, 0]]` outputs 80; with `dout = 1`, `dL/dfilter` is the patch itself.)

            **The bias** is added at every position of every image: `db[f] = sum of dout[:, f]`.

            **The image.** Pixel `image(p, q)` was seen by every window that covered it, through a different filter
            tap each time: window `(i, j)` used it with weight `filter(p - i, q - j)`. Summing those contributions,

            $$\\frac{\\partial L}{\\partial \\mathrm{image}(p, q)} = \\sum_{i, j}
              \\mathrm{dout}(i, j) \\cdot \\mathrm{filter}(p - i, q - j)$$

            which is a **full convolution of `dout` with the filter** (pad `dout` by `KH-1, KW-1` and slide the filter
            flipped in both axes over it). Flipped: the kernel that the forward pass did *not* flip comes back
            flipped. A convenient way to compute it: for each filter tap, add `dout * filter(tap)` into the slice of
            the (padded) input that tap touched.

            **Channels, filters, batches, stride and padding** follow by the same two rules:

            * `dw[f, c]` sums over the batch `n` and every position; `dx[n, c]` sums over the filters `f`.
            * With stride `S` the windows start every `S` pixels: the slices become `start : start + S*(H'-1)+1 : S`.
            * With padding, compute the gradient of the padded input and cut the border off: those zeros were
              constants, so their gradient goes nowhere.
            """),
        "conv2d_backward",
        nb.demo_code('''
            @picture
            def _():
                x = np.array([[0, 7, 0], [0, 80, 31], [33, 14, 0]], dtype=float)[None, None]
                w = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=float)[None, None]
                dx, dw, db = conv2d_backward(np.ones((1, 1, 1, 1)), x, w)
                print("slides' patch, identity filter, dout = 1:  dL/dfilter =\\n", dw[0, 0], "\\n db =", db)

                rng = np.random.default_rng(6)
                image = rng.integers(0, 4, (1, 1, 6, 6)).astype(float)
                kernel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])[None, None]  # sobel
                dout = np.zeros((1, 1, 4, 4))
                dout[0, 0, 1, 2] = 1.0          # the loss cares about ONE output pixel
                dx, dw, db = conv2d_backward(dout, image, kernel)
                fig, axes = plt.subplots(1, 4, figsize=(14, 3.7))
                show_grid(axes[0], image[0, 0], "image (6x6)", cmap="Greys")
                show_grid(axes[1], dout[0, 0], "dout: one output pixel")
                show_grid(axes[2], dx[0, 0], "dx: the kernel,\\nin its window")
                show_grid(axes[3], dw[0, 0], "dw: the window\\nof the image")
                plt.show()
            '''),
        nb.markdown("""
            With a single `1` in `dout`, `dx` is the kernel itself placed on the window that produced that output,
            and `dw` is the image window the kernel saw: the two sides of one multiply-and-sum. A full `dout` adds
            such pictures up, one per output pixel. Below, a whole `dout`: `dx` from your `conv2d_backward` beside
            the **full correlation of `dout` with the flipped kernel** (pad `dout` with `KH-1 = 2` rings of zeros,
            slide `w[::-1, ::-1]` over it; the same thing as the full *convolution* of `dout` with `w`), computed
            here independently, and their difference, which must be zero in every cell. The numbers are small
            integers, so every sum is exact in float64 and a right `dx` matches to the last bit. After the picture,
            every gradient passes the numerical check, with channels, several filters, stride and padding.
            """),
        nb.demo_code('''
            @picture
            def _():
                rng = np.random.default_rng(7)
                x = rng.integers(-3, 4, (1, 1, 6, 6)).astype(float)   # dx does not depend on x, dw does
                w = rng.integers(-2, 3, (1, 1, 3, 3)).astype(float)
                dout = rng.integers(-2, 3, (1, 1, 4, 4)).astype(float)
                dx, dw, db = conv2d_backward(dout, x, w)
                padded = np.pad(dout[0, 0], 2)                          # KH - 1 = KW - 1 = 2 rings of zeros
                flipped = w[0, 0, ::-1, ::-1]
                full = np.array([[np.sum(padded[p:p + 3, q:q + 3] * flipped) for q in range(6)] for p in range(6)])
                diff = dx[0, 0] - full
                fig, axes = plt.subplots(1, 5, figsize=(17, 3.9))
                show_grid(axes[0], dout[0, 0], "dout (4x4)")
                show_grid(axes[1], w[0, 0], "w (3x3)")
                show_grid(axes[2], dx[0, 0], "dx from\\nconv2d_backward")
                show_grid(axes[3], full, "full correlation of dout\\nwith w flipped")
                show_grid(axes[4], diff, "difference:\\ndx - full correlation", lim=np.abs(full).max())
                plt.show()
                worst = np.abs(diff).max()
                print(f"max |dx - full correlation| = {worst:g}", "OK" if worst == 0 else "MISMATCH: look at your dx")

                x = rng.standard_normal((2, 3, 7, 6))
                w = rng.standard_normal((4, 3, 3, 2))
                b = rng.standard_normal(4)
                for stride, pad in ((1, 0), (2, 1), ((1, 2), (2, 0))):
                    out = conv2d_forward(x, w, b, stride=stride, pad=pad)
                    dout = rng.standard_normal(out.shape)
                    dx, dw, db = conv2d_backward(dout, x, w, stride=stride, pad=pad)
                    print(f"stride {stride}, pad {pad}:")
                    report("dx", dx, numerical_gradient(lambda v: conv2d_forward(v, w, b, stride, pad), x, dout))
                    report("dw", dw, numerical_gradient(lambda v: conv2d_forward(x, v, b, stride, pad), w, dout))
                    report("db", db, numerical_gradient(lambda v: conv2d_forward(x, w, v, stride, pad), b, dout))
            '''),
        *learn_a_kernel(),
        nb.markdown("""
            ## What you have built

            Every layer of a CNN can now pass gradients backwards. Chained from the loss to the input, they give the
            gradient of the loss with respect to every filter and weight of a network: in assignment 4 you will use
            them to train the slides' digit recogniser, and watch its filters learn to see strokes.

            Before you submit: *Kernel -> Restart & Run All*, and check that every check cell passes.
            """),
    ]
