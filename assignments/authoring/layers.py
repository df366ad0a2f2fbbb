"""Writes assignments/source/layers/layers.ipynb: ReLU, pooling, flatten, the dense layer, softmax, cross-entropy.

Run ``python -m assignments.authoring.layers`` from the repository root. Same layout as the convolution notebook
(see :mod:`assignments.authoring.nb`); the slides' examples come from :mod:`reference.slides`, the student
functions' cells from :mod:`assignments.authoring._layers_solutions`.
"""
from __future__ import annotations

from pathlib import Path

from assignments.authoring import nb
from assignments.authoring._layers_cells import pooling_grids, relu_picture, shift_tolerance
from assignments.authoring._layers_solutions import solutions
from assignments.authoring.nb import demo_code, markdown
from autograder.suites import assignment

NAME = "layers"
TITLE = assignment(NAME).title
PATH = Path(__file__).resolve().parents[1] / "source" / NAME / f"{NAME}.ipynb"

__all__ = ["NAME", "TITLE", "PATH", "teaching", "solutions"]


def teaching() -> list:
    """The notebook in reading order; a plain string ``"fn"`` marks where fn's solution and check cells go."""
    from reference.slides import by_id

    relu_ex, max_ex = by_id("relu-4x4"), by_id("max-pool-4x4")
    avg_ex, max2 = by_id("avg-pool-4x4"), by_id("max-pool-2x2")
    return [
        markdown(f"""
            # Assignment 2 — {TITLE}

            A convolution layer turns an image into feature maps. This assignment builds everything that turns
            feature maps into an answer: the **ReLU** non-linearity, **pooling** that shrinks the maps, **flatten**
            that lays them out as one vector, the **dense** (fully connected) layer, and **softmax** that turns
            the last layer's scores into probabilities, with the **cross-entropy** loss that says how wrong
            they are.

            **How to work** (as in assignment 1): replace each `raise NotImplementedError()` with your code, keep
            the signature, docstring and input checks; the cell after it checks your function on the public cases
            (the grader adds hidden ones); `pytest -m max_pool2d` in this folder checks one function.
            Shapes: `N` samples, `C` channels, `H, W` height and width, `KH, KW` pooling window, `SH, SW` stride,
            `H', W'` output size, `D` features into a dense layer, `M` out of it, `K` classes.
            """),
        nb.setup_cell(nb.provided_checks()),
        nb.picture_helpers(),
        demo_code("""
            # The photograph of assignment 1 (inside matplotlib), in grey, as a batch of one image (1, 1, H, W).
            import matplotlib.cbook as cbook

            PHOTO = plt.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
            GRAY = (PHOTO @ np.array([0.299, 0.587, 0.114]) / 255.0)[None, None]
            # A vertical-edge feature map, the kind of thing a first convolution layer produces: positive where
            # the photograph gets darker to the right, negative where it gets brighter.
            EDGES = GRAY[:, :, :, :-2] - GRAY[:, :, :, 2:]
            print("GRAY", GRAY.shape, "EDGES", EDGES.shape)
            """),
        markdown(f"""
            ## 1. ReLU: keep the evidence, drop the rest

            A stack of linear layers is still linear; a CNN needs a **non-linearity** after each convolution.
            The Rectified Linear Unit is the simplest one: $\\mathrm{{ReLU}}(x) = \\max(0, x)$. Negative values
            ("this pattern is *not* here") become 0, positive ones pass unchanged. The slides' example:
            `{relu_ex.args[0].astype(int).tolist()}` becomes `{relu_ex.expected.astype(int).tolist()}`.
            Implement `relu` for an array of any shape (float32 stays float32).
            """),
        "relu",
        relu_picture(),
        markdown(f"""
            ## 2. Pooling: smaller maps, same evidence

            A 28x28 digit is fine for a dense network; a 1000x1000 photo is not (10^12 weights for one layer of
            the same size). We still recognise a cat in a picture four times smaller. **Pooling** shrinks each
            feature map by summarising each `KH x KW` window in one number, channel by channel (the number of
            channels stays the same):

            * **max pooling** keeps the strongest response ("the pattern is somewhere in here"),
            * **average pooling** the mean, **sum pooling** the sum.

            Windows step by `stride`, which defaults to the window size (windows side by side, no overlap).
            Pooling never pads, so the output is `H' = (H - KH) // SH + 1`, `W' = (W - KW) // SW + 1`.
            Deck 001's 4x4 example `{max_ex.args[0][0, 0].astype(int).tolist()}` with 2x2 windows: max pooling
            gives `{max_ex.expected[0, 0].astype(int).tolist()}`, average pooling (as the slide prints it)
            `{avg_ex.slide[0, 0].tolist()}`, sum pooling (which deck 002 lists) four times the average, and
            deck 002's `{max2.args[0][0, 0].astype(int).tolist()}`
            max-pools to `{max2.expected[0, 0].astype(int).tolist()}`.

            **Puzzle (an erratum).** The slide prints `{avg_ex.slide[0, 0, 1, 0]:g}` bottom-left for average
            pooling. Which four numbers are in that window, and what is their mean? (The number grids after
            the three functions show the answer.)

            *Hint for all three:* `np.lib.stride_tricks.sliding_window_view(x, (KH, KW), axis=(2, 3))` gives
            every window (stride 1) as a view of shape `(N, C, H - KH + 1, W - KW + 1, KH, KW)`; slicing
            `[:, :, ::SH, ::SW]` keeps the strided ones. Then reduce the last two axes.
            """),
        "max_pool2d",
        "avg_pool2d",
        "sum_pool2d",
        pooling_grids(),
        demo_code("""
            @picture
            def _():
                maps = relu(EDGES)
                panels = [("relu(EDGES)", maps), ("max_pool2d 4x4", max_pool2d(maps, 4)),
                          ("avg_pool2d 4x4", avg_pool2d(maps, 4)), ("max_pool2d 8x8", max_pool2d(maps, 8)),
                          ("max_pool2d 16x16", max_pool2d(maps, 16))]
                fig, axes = plt.subplots(1, len(panels), figsize=(18, 4))
                for ax, (name, m) in zip(axes, panels):   # one colour scale, so averaging's fading shows
                    ax.imshow(m[0, 0], cmap="magma", vmin=0, vmax=maps.max()); ax.set_title(f"{name}\\n{m.shape}", fontsize=9); ax.axis("off")
                plt.show()
            """),
        markdown("""
            Notice how max pooling keeps thin edges visible (it *amplifies* them: one strong pixel is enough)
            while averaging washes them out. That is why max pooling is the common choice in CNNs.
            """),
        *shift_tolerance(),
        markdown("""
            ## 3. Flatten: from maps to a vector

            After a few rounds of convolution, ReLU and pooling, the maps are small but many: `(N, C, H, W)`.
            The classifier at the end is an ordinary dense network, which wants one vector per sample:
            `flatten` lays each sample's `C x H x W` numbers out in one row, `(N, C*H*W)`, in row-major order
            (channel by channel, row by row), so the order matches `x.reshape`.
            """),
        "flatten",
        markdown("""
            ## 4. The dense (fully connected) layer

            Every output neuron of a dense layer looks at *every* input: `out = x @ w + b` with `x (N, D)`,
            `w (D, M)` and `b (M,)` gives `(N, M)`. Compare the parameter counts: a dense layer from a 100x100
            image to 10,000 neurons has 10^8 weights; a convolution layer with 32 filters of 3x3 has 288 and
            uses them at every position (*weight sharing*, *sparse connections*).
            """),
        "dense_forward",
        markdown("""
            ## 5. Softmax: scores into probabilities

            The last dense layer outputs one **score** (logit) per class. Softmax turns a row of scores
            `z` into probabilities: positive, summing to 1, and ordered like the scores:

            $$p_k = \\frac{e^{z_k}}{\\sum_j e^{z_j}} .$$

            **Overflow.** `np.exp(1000.0)` is `inf`, and `inf / inf` is `nan`. Because softmax does not change when
            the same number is subtracted from every score of a row, subtract each row's maximum first: the
            largest exponent is then `e^0 = 1` and nothing overflows. Implement `softmax` over the last axis.
            """),
        "softmax",
        demo_code("""
            @picture
            def _():
                classes = ["cat", "dog", "bird", "fish", "car"]
                z = np.array([[2.0, 1.0, 0.1, -1.0, 3.0]])
                fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
                axes[0].bar(classes, z[0], color="gray"); axes[0].set_title("scores z (logits)")
                axes[1].bar(classes, softmax(z)[0], color="tab:blue"); axes[1].set_title("softmax(z): sums to 1")
                axes[2].bar(classes, softmax(3 * z)[0], color="tab:orange"); axes[2].set_title("softmax(3 z): sharper")
                for ax in axes[1:]:
                    ax.set_ylim(0, 1)
                plt.show()
                print("huge logits stay finite:", softmax(np.array([[1000.0, 1001.0, 1002.0]])))
            """),
        markdown("""
            ## 6. Cross-entropy: how wrong is a prediction?

            Training needs one number that is small when the network puts high probability on the right class.
            For a sample with label `y`, the loss is $-\\log p_y$: 0 for a certain right answer, large for a
            confident wrong one. `cross_entropy(z, y)` returns the **mean** over the `N` samples, from the logits
            `z (N, K)` and integer labels `y (N,)`. Compute it from the logits with the log-sum-exp trick,
            $-\\log p_y = \\log\\sum_j e^{z_j} - z_y$ with the maximum subtracted inside, never as
            `np.log(softmax(z))`, which is `log(0) = -inf` once a probability underflows.
            """),
        "cross_entropy",
        demo_code("""
            @picture
            def _():
                margin = np.linspace(-6, 6, 121)               # score of the right class minus the other's
                z = np.stack([margin, np.zeros_like(margin)], axis=1)
                losses = [cross_entropy(z[i:i + 1], np.array([0])) for i in range(len(margin))]
                plt.figure(figsize=(6, 3.5))
                plt.plot(margin, losses)
                plt.xlabel("score of the right class minus the other class"); plt.ylabel("cross-entropy")
                plt.title("confident and wrong costs the most"); plt.show()
            """),
        markdown("""
            ## What you built

            `relu`, three poolings, `flatten`, `dense_forward`, `softmax` and `cross_entropy`: with
            assignment 1's `conv2d_forward`, the whole forward pass of a CNN, from pixels to a loss. Next:
            backpropagation, the gradients that let the network learn its own kernels.
            """),
    ]


if __name__ == "__main__":
    import sys

    raise SystemExit(nb.script_main(sys.modules[__name__]))
