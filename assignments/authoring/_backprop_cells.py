"""The teaching cells of the backprop notebook (slides 001: backpropagation through max pooling and the conv layer).

``teaching()`` returns the notebook in order: markdown and demo cells, and, where a student function belongs, its
name (the driver puts the solution cell and the check cell there). Demo cells call only the student's functions and
are wrapped in ``@picture``, so a stub prints which function to implement instead of a traceback.
"""
from __future__ import annotations

from assignments.authoring import nb
from assignments.authoring._backprop_pool_cells import pooling_and_conv
from assignments.authoring._backprop_solutions import POOL_CHECKS, forward_paste_cell

__all__ = ["teaching", "SETUP"]

SETUP = nb.provided_checks() + "\n\n" + POOL_CHECKS.strip("\n")


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


            def show_grid(ax, a, title, cmap="RdBu_r", lim=None):
                """Draw the 2-D array ``a`` as a heatmap with each value written in its cell.

                Signed maps (``RdBu_r``) get colours symmetric about 0, up to ``lim`` (default: the largest |value|);
                give several grids the same ``lim`` to compare their colours.
                """
                a = np.asarray(a, dtype=float)
                lim = max(np.abs(a).max(), 1e-12) if lim is None else lim
                ax.imshow(a, cmap=cmap, vmin=-lim if cmap == "RdBu_r" else 0, vmax=lim)
                for (r, c), v in np.ndenumerate(a):
                    dark = abs(v) > 0.6 * lim if cmap == "RdBu_r" else v > 0.5 * lim
                    # + 0.0 turns -0.0 into 0.0, so a zero never prints as "-0"
                    ax.text(c, r, f"{v + 0.0:.3g}", ha="center", va="center", fontsize=9,
                            color="white" if dark else "black")
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
        *pooling_and_conv(),
    ]
