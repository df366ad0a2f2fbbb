"""The teaching cells of the backprop notebook (slides 001: backpropagation through max pooling and the conv layer).

``teaching()`` returns the notebook in order: markdown and demo cells, and, where a student function belongs, its
name (the driver puts the solution cell and the check cell there). Demo cells call only the student's functions and
are wrapped in ``@picture``, so a stub prints which function to implement instead of a traceback.
"""
from __future__ import annotations

from assignments.authoring import nb
from assignments.authoring._backprop_solutions import POOL_CHECKS, forward_paste_cell

__all__ = ["teaching", "SETUP"]

SETUP = nb.provided_checks() + "\n\n" + POOL_CHECKS.strip("\n")

_SLIDES_POOL = "[[0, 55, 0, 0], [20, 0, 41, 33], [0, 90, 0, 0], [0, 57, 0, 95]]"


def teaching() -> list:
    return [
        nb.markdown("""
            # Assignment 3 — Backpropagation: how a CNN learns from its mistakes

            In assignments 1 and 2 you built the **forward pass** of a CNN: convolution, ReLU, pooling, flatten, a
            dense layer and softmax turn an image into ten class probabilities. A freshly initialised network guesses.
            To make it better we need to know, for every one of its thousands of weights, *which way to nudge it* so
            that the loss goes down: the **gradient** of the loss with respect to that weight.

            Backpropagation computes all of those gradients in one backward sweep, layer by layer, with the chain
            rule. In this notebook you write the backward pass of every layer, and a tool to check them:

            | function | returns |
            | --- | --- |
            | `numerical_gradient(f, x, dout, h=1e-5)` | the gradient estimated by nudging each input: your lie detector |
            | `relu_backward(dout, x)` | `dx` |
            | `dense_backward(dout, x, w)` | `(dx, dw, db)` |
            | `flatten_backward(dout, x_shape)` | `dx` |
            | `softmax_cross_entropy_backward(z, y)` | `dz = (softmax(z) - onehot(y)) / N` |
            | `max_pool2d_backward(dout, x, size=2, stride=None)` | `dx`: the gradient flows to the maximum |
            | `avg_pool2d_backward(dout, x, size=2, stride=None)` | `dx`: the gradient is shared equally |
            | `conv2d_backward(dout, x, w, stride=1, pad=0)` | `(dx, dw, db)` |

            **How to work.** Each function has a cell with its signature, its *shape contract* and the input checks
            already written; replace `raise NotImplementedError()` with your code. The cell after it runs the
            public test cases and prints a report: which case failed, the input shapes, the worst element, and, when
            your answer matches a classic mistake, which one. The grader also runs hidden cases, so make the function
            right, not just the examples. `pytest` in this folder runs the same public cases
            (`pytest -m conv2d_backward` for one function).

            Shape letters are the same everywhere: `N` images, `C` channels, `H x W` input size, `F` filters,
            `KH x KW` kernel, `H' x W'` output size, `D` / `M` features into / out of a dense layer, `K` classes.
            """),
        nb.setup_cell(SETUP),
        nb.picture_helpers(),
        nb.demo_code('''
            # More teaching helpers: a heatmap with its numbers written in, and the gradient-check verdict.
            GRAD_OK = 1e-7   # relative error of a correct float64 gradient is usually 1e-10 .. 1e-8


            def show_grid(ax, a, title, cmap="RdBu_r"):
                """Draw the 2-D array ``a`` as a heatmap with each value written in its cell."""
                a = np.asarray(a, dtype=float)
                lim = max(np.abs(a).max(), 1e-12)
                ax.imshow(a, cmap=cmap, vmin=-lim if cmap == "RdBu_r" else 0, vmax=lim)
                for (r, c), v in np.ndenumerate(a):
                    dark = abs(v) > 0.6 * lim if cmap == "RdBu_r" else v > 0.5 * lim
                    ax.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize=9, color="white" if dark else "black")
                ax.set_title(title)
                ax.set_xticks([])
                ax.set_yticks([])


            def rel_error(a, b):
                """Relative difference ||a - b|| / (||a|| + ||b||) of two arrays: 0 when equal, about 1 when unrelated."""
                a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
                return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12))


            def report(name, analytic, numeric):
                err = rel_error(analytic, numeric)
                verdict = "OK" if err < GRAD_OK else "MISMATCH: look at your backward pass"
                print(f"{name:>4}: relative error {err:.1e}  {verdict}")
            '''),
        forward_paste_cell(),
        nb.markdown("""
            ## 1. The chain rule on a computational graph

            A network is a chain of small functions. For the digit recogniser of assignment 4:

            `x -> conv -> ReLU -> pool -> ... -> flatten -> dense -> softmax + cross-entropy -> L`

            Each box only knows its own input and output. Backpropagation asks each box one question, from the last
            to the first: *"if I tell you how the loss changes with your output (`dout = dL/dout`), how does it change
            with your input (`dx`) and with your parameters (`dw`, `db`)?"* The chain rule answers it locally:

            $$\\frac{\\partial L}{\\partial x_k} = \\sum_m \\frac{\\partial L}{\\partial \\mathrm{out}_m}\\,
              \\frac{\\partial \\mathrm{out}_m}{\\partial x_k}$$

            In words: every output that `x_k` influenced sends back its share, `dout` times the local slope, and the
            shares **add up**. Two rules follow that you will use in every function below:

            1. **A gradient has the shape of the thing it is the gradient of.** `dx` is shaped like `x`, `dw` like `w`.
               When you are unsure of a formula, the shapes usually leave only one way to multiply.
            2. **Where one value is used several times, its gradients add.** A bias added to every row, a filter slid
               over every window, a pixel inside several overlapping windows: each use contributes.
            """),
        nb.demo_code('''
            @picture
            def _():
                boxes = ["x", "conv", "ReLU", "pool", "flatten", "dense", "softmax\\n+ CE", "L"]
                fig, ax = plt.subplots(figsize=(11, 2.4))
                for k, name in enumerate(boxes):
                    ax.text(k * 1.5, 0, name, ha="center", va="center", fontsize=11,
                            bbox=dict(boxstyle="round", fc="lightyellow" if 0 < k < 7 else "white"))
                    if k:
                        ax.annotate("", xy=(k * 1.5 - 0.45, 0.18), xytext=((k - 1) * 1.5 + 0.45, 0.18),
                                    arrowprops=dict(arrowstyle="->", color="black"))
                        ax.annotate("", xy=((k - 1) * 1.5 + 0.45, -0.18), xytext=(k * 1.5 - 0.45, -0.18),
                                    arrowprops=dict(arrowstyle="->", color="crimson"))
                ax.text(5.25, 0.45, "forward: values", ha="center")
                ax.text(5.25, -0.5, "backward: dL/d(value), each box applies its local slope", ha="center", color="crimson")
                ax.set_xlim(-0.7, 11.2)
                ax.set_ylim(-0.7, 0.7)
                ax.axis("off")
                plt.show()
            '''),
        nb.markdown("""
            ## 2. A lie detector: the numerical gradient

            A backward pass is easy to get *almost* right. Before trusting one, compare it with a gradient computed
            the slow, obvious way, from the definition of a derivative. For a layer `out = f(x)` and an upstream
            gradient `dout`, the backward pass computes the gradient of the scalar

            $$L(x) = \\sum f(x) \\cdot \\mathrm{dout}$$

            Nudge one element `x[i]` by a tiny step `h` up and down and measure the slope of the chord:

            $$\\frac{\\partial L}{\\partial x_i} \\approx \\frac{L(x + h\\,e_i) - L(x - h\\,e_i)}{2h}$$

            **Why the centred difference?** A one-sided difference `(L(x + h e_i) - L(x)) / h` is wrong by about
            `h/2 * L''`: error proportional to `h`. The centred one cancels that term (Taylor series), leaving an
            error proportional to `h²`.

            **Why `h = 1e-5`?** Two errors pull in opposite directions. The formula's error shrinks like `h²`; but
            `L(x + h e_i)` and `L(x - h e_i)` are nearly equal numbers, and subtracting them loses digits: a rounding
            error of about `eps / h`, with `eps ≈ 1e-16` for float64. Balancing `h²` against `1e-16 / h` gives
            `h ≈ 1e-5`, and a relative error around `1e-10`. (In float32, `eps ≈ 1e-7`: the nudge is lost in the
            rounding, which is why `x` must be float64.)

            **How close is close?** Compare with the relative error `||a - b|| / (||a|| + ||b||)`: below `1e-7` your
            gradient is right; around `1e-2` or larger it is wrong (a missing sum, a transposed matrix, ...).

            Write `numerical_gradient`: loop over every index of `x` (`np.ndindex(x.shape)` gives them all), nudge,
            evaluate, **restore**, and store the slope. It nudges `x` in place (cheaper than copying), so put each
            element back, even when `f` raises (`try` / `finally`).
            """),
        "numerical_gradient",
        nb.markdown("""
            The picture shows both errors at work on `d/dx sin(x)` at `x = 1`, whose exact value is `cos(1)`. Your
            centred difference (blue) falls like `h²` until rounding takes over; the one-sided difference (grey) only
            falls like `h`.
            """),
        nb.demo_code('''
            @picture
            def _():
                steps = np.logspace(-12, -1, 45)
                exact = np.cos(1.0)
                one = np.array([1.0])
                central = [abs(numerical_gradient(np.sin, one.copy(), one, h=h)[0] - exact) for h in steps]
                forward = [abs((np.sin(1 + h) - np.sin(1)) / h - exact) for h in steps]
                plt.figure(figsize=(6, 4))
                plt.loglog(steps, np.maximum(central, 1e-17), "o-", ms=3, label="central (yours)")
                plt.loglog(steps, np.maximum(forward, 1e-17), "s-", ms=3, color="grey", label="one-sided")
                plt.axvline(1e-5, ls=":", color="k")
                plt.xlabel("step h")
                plt.ylabel("|error|")
                plt.title("rounding error (left) vs formula error (right)")
                plt.legend()
                plt.show()
            '''),
        nb.markdown("""
            ## 3. ReLU

            `relu(x) = max(0, x)` has slope 1 where `x > 0` and slope 0 where `x < 0`. So the backward pass lets the
            upstream gradient through where the input was positive and blocks it elsewhere: a ReLU is a gate. At
            exactly `x = 0` the slope is undefined; we follow PyTorch and use 0.

            Note that `relu_backward` needs the forward **input** `x`, not just `dout`: each backward function
            receives what its forward pass saw. (A neuron whose input is negative for every example gets no gradient
            at all and stops learning: a "dead ReLU".)
            """),
        "relu_backward",
        nb.demo_code('''
            @picture
            def _():
                rng = np.random.default_rng(0)
                x = rng.standard_normal((3, 4))
                dout = rng.standard_normal((3, 4))
                report("dx", relu_backward(dout, x), numerical_gradient(relu, x, dout))
                fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
                show_grid(axes[0], x, "x (forward input)")
                show_grid(axes[1], dout, "dout (from above)")
                show_grid(axes[2], relu_backward(dout, x), "dx: dout where x > 0")
                plt.show()
            '''),
        nb.markdown("""
            ## 4. The dense layer

            `out = x @ w + b` with `x (N, D)`, `w (D, M)`, `b (M,)`. Element by element,
            `out[n, m] = sum_d x[n, d] * w[d, m] + b[m]`, so:

            * `dx[n, d] = sum_m dout[n, m] * w[d, m]`, that is `dx = dout @ w.T`, shape `(N, M) @ (M, D) = (N, D)`;
            * `dw[d, m] = sum_n x[n, d] * dout[n, m]`, that is `dw = x.T @ dout`, shape `(D, N) @ (N, M) = (D, M)`:
              **summed over the batch**, because the same weights serve every example;
            * `db[m] = sum_n dout[n, m]`: the bias was added to every row, so its gradient adds every row.

            Check the shapes: there is exactly one way to multiply `dout` and `w` into something shaped like `x`.
            """),
        "dense_backward",
        nb.demo_code('''
            @picture
            def _():
                rng = np.random.default_rng(1)
                x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
                dout = rng.standard_normal((4, 3))
                dx, dw, db = dense_backward(dout, x, w)
                report("dx", dx, numerical_gradient(lambda v: dense_forward(v, w, b), x, dout))
                report("dw", dw, numerical_gradient(lambda v: dense_forward(x, v, b), w, dout))
                report("db", db, numerical_gradient(lambda v: dense_forward(x, w, v), b, dout))
            '''),
        nb.markdown("""
            ## 5. Flatten

            Flatten does no arithmetic: it reads the `C x H x W` numbers of each image as one row of `D = C*H*W`.
            Its backward pass puts each gradient back where its number came from: the same reshape, the other way.
            """),
        "flatten_backward",
        nb.demo_code('''
            @picture
            def _():
                rng = np.random.default_rng(2)
                x = rng.standard_normal((2, 3, 2, 2))
                dout = rng.standard_normal((2, 12))
                report("dx", flatten_backward(dout, x.shape), numerical_gradient(flatten, x, dout))
            '''),
        nb.markdown("""
            ## 6. Softmax and cross-entropy: the famous `p - onehot`

            The network's last step turns the scores (logits) `z` of each example into probabilities
            `p = softmax(z)`, and the loss is the mean over the batch of `-log p[y]`, the log-probability given to
            the right class. Differentiating the two together gives one of the most beautiful results of the
            course. For one example with label `y`:

            $$L = -z_y + \\log \\sum_k e^{z_k} \\quad\\Rightarrow\\quad
              \\frac{\\partial L}{\\partial z_k} = \\frac{e^{z_k}}{\\sum_j e^{z_j}} - [k = y] = p_k - \\mathrm{onehot}(y)_k$$

            The gradient pushes every wrong class's score down by its probability, and the right class's score up
            by `1 - p_y`: the more confident and wrong the network, the harder the push. For the **mean** over
            `N` examples, divide by `N`:

            $$dz = \\frac{\\mathrm{softmax}(z) - \\mathrm{onehot}(y)}{N}$$

            Compute the softmax stably, subtracting each row's maximum before `exp` (logits of 1000 must not
            overflow), and don't forget the `/ N` (a classic mistake, which the checks diagnose).
            """),
        "softmax_cross_entropy_backward",
        nb.demo_code('''
            @picture
            def _():
                z = np.array([[2.0, 1.0, 0.1, -1.0, 3.0]])
                y = np.array([0])
                dz = softmax_cross_entropy_backward(z, y)
                p = softmax(z)[0]
                onehot = np.eye(5)[y[0]]
                fig, axes = plt.subplots(1, 3, figsize=(11, 2.8), sharey=True)
                for ax, v, title in zip(axes, (p, onehot, dz[0]), ("p = softmax(z)", "onehot(y), y = 0", "dz = p - onehot")):
                    ax.bar(range(5), v, color=["tab:green" if k == y[0] else "tab:blue" for k in range(5)])
                    ax.axhline(0, color="k", lw=0.5)
                    ax.set_title(title)
                    ax.set_xlabel("class k")
                plt.show()
                print("gradient descent moves z by -dz: up for the true class 0, down for the others (most for class 4).")
                rng = np.random.default_rng(3)
                z = rng.standard_normal((4, 5))
                y = rng.integers(0, 5, 4)
                report("dz", softmax_cross_entropy_backward(z, y), numerical_gradient(lambda v: cross_entropy(v, y), z, 1.0))
            '''),
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
                fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
                show_grid(axes[0], x[0, 0], "x (slides)", cmap="Greys")
                for (r, c) in zip(*np.nonzero(dx[0, 0])):
                    axes[0].add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="crimson", lw=3))
                show_grid(axes[1], dout[0, 0], "dout = dL/d(pooled)")
                show_grid(axes[2], dx[0, 0], "dx: each window's gradient at its max")
                plt.show()
            '''),
        nb.demo_code('''
            @picture
            def _():
                ties = np.zeros((1, 1, 4, 4))
                ties[0, 0, 2:, 2:] = [[5, 5], [1, 5]]
                overlap = np.array([[1, 2, 0], [0, 9, 0], [3, 0, 4]], dtype=float)[None, None]
                fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
                show_grid(axes[0], ties[0, 0], "ties: x (after a ReLU)", cmap="Greys")
                show_grid(axes[1], max_pool2d_backward(np.ones((1, 1, 2, 2)), ties)[0, 0], "dx: one winner per window")
                show_grid(axes[2], overlap[0, 0], "overlap: x, 2x2 windows, stride 1", cmap="Greys")
                show_grid(axes[3], max_pool2d_backward(np.ones((1, 1, 2, 2)), overlap, size=2, stride=1)[0, 0],
                          "dx: the 9 wins all 4 windows")
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
                fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
                show_grid(axes[0], image[0, 0], "image (6x6)", cmap="Greys")
                show_grid(axes[1], dout[0, 0], "dout: one output pixel")
                show_grid(axes[2], dx[0, 0], "dx: the kernel, in its window")
                show_grid(axes[3], dw[0, 0], "dw: the window of the image")
                plt.show()
            '''),
        nb.markdown("""
            With a single `1` in `dout`, `dx` is the kernel itself placed on the window that produced that output,
            and `dw` is the image window the kernel saw: the two sides of one multiply-and-sum. A full `dout` adds
            such pictures up, one per output pixel. Below, a whole random `dout`: `dx` equals the full convolution of
            `dout` with the flipped kernel (computed here independently), and every gradient passes the numerical
            check, with channels, several filters, stride and padding.
            """),
        nb.demo_code('''
            @picture
            def _():
                rng = np.random.default_rng(7)
                x = rng.standard_normal((1, 1, 6, 6))
                w = rng.standard_normal((1, 1, 3, 3))
                dout = rng.standard_normal((1, 1, 4, 4))
                dx, dw, db = conv2d_backward(dout, x, w)
                padded = np.pad(dout[0, 0], 2)
                flipped = w[0, 0, ::-1, ::-1]
                full = np.array([[np.sum(padded[p:p + 3, q:q + 3] * flipped) for q in range(6)] for p in range(6)])
                fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
                show_grid(axes[0], dout[0, 0], "dout (4x4)")
                show_grid(axes[1], dx[0, 0], "dx from conv2d_backward")
                show_grid(axes[2], full, "full conv of dout, flipped w")
                plt.show()
                report("full", dx[0, 0], full)

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
        nb.markdown("""
            ## What you have built

            Every layer of a CNN can now pass gradients backwards. Chained from the loss to the input, they give the
            gradient of the loss with respect to every filter and weight of a network: in assignment 4 you will use
            them to train the slides' digit recogniser, and watch its filters learn to see strokes.

            Before you submit: *Kernel -> Restart & Run All*, and check that every check cell passes.
            """),
    ]
