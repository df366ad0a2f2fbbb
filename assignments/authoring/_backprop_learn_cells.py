"""The end of the backprop notebook's conv section: a kernel learned by gradient descent (decks 002 and 004).

The experiment uses only the student's own ``conv2d_forward`` (pasted from assignment 1) and ``conv2d_backward``:
targets made with ``sobel_x`` on crops of the photograph, a random start, plain gradient steps on the mean squared
error. The numbers the text states (rate, steps, the rate that diverges) were measured on these crops.
"""
from __future__ import annotations

from assignments.authoring import nb

__all__ = ["learn_a_kernel"]


def learn_a_kernel() -> list:
    """The markdown and demo cells of the experiment, in reading order."""
    return [
        nb.markdown("""
            ### Kernels are learned, not designed

            In assignment 1 the numbers of `sobel_x` were chosen by hand, and you designed a diagonal kernel
            yourself. A CNN is never told them: its kernels start as random numbers and gradient descent finds them
            (deck 002: "kernels are learned *automatically* through **weight updates**"; deck 004: "parameters to
            be learned"). You now have everything this takes. The experiment below uses only your `conv2d_forward`
            and `conv2d_backward`:

            1. Take three 20x20 crops of the photograph of assignment 1 (stars, glasses, cap badge) and make the
               targets with the kernel we want back: `t = conv2d_forward(images, sobel_x, 0)`.
            2. Forget `sobel_x`. Start from a random 3x3 kernel `w`.
            3. Repeat: `y = conv2d_forward(images, w, 0)`; the loss is the mean squared error
               `L = mean((y - t)²)` over the `N = 3 * 18 * 18` output pixels, so its gradient with respect to the
               output is `dout = 2 (y - t) / N`; `conv2d_backward(dout, images, w)` turns it into `dw`; step
               `w = w - lr * dw`.

            Nothing in the loop knows `sobel_x` except through the targets. The crops are standardised (each
            crop's mean brightness removed, all divided by one spread) so that no direction of the loss is much
            steeper than the others: one learning rate then suits all nine weights.
            """),
        nb.demo_code('''
            @picture
            def _():
                import time

                import matplotlib.cbook as cbook

                photo = plt.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))  # ships with matplotlib
                gray = photo[::6, ::6] @ np.array([0.299, 0.587, 0.114]) / 255                  # (100, 86), 0 .. 1
                corners = [(2, 0), (28, 32), (2, 40)]                                         # stars, glasses, badge
                images = np.stack([gray[r:r + 20, c:c + 20] for r, c in corners])[:, None]     # (3, 1, 20, 20)
                images = (images - images.mean(axis=(2, 3), keepdims=True)) / images.std()
                sobel_x = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])[None, None]
                no_bias = np.zeros(1)
                targets = conv2d_forward(images, sobel_x, no_bias)                            # (3, 1, 18, 18)

                def loss_and_dw(w):
                    y = conv2d_forward(images, w, no_bias)
                    dout = 2 * (y - targets) / y.size          # dL/dy of L = mean((y - t)^2)
                    return np.mean((y - targets) ** 2), conv2d_backward(dout, images, w)[1]

                LR, STEPS, EVERY = 0.1, 100, 20
                w = np.random.default_rng(0).standard_normal((1, 1, 3, 3))                    # the random start
                start = time.perf_counter()
                loss, dw = loss_and_dw(w)
                losses, snapshots = [loss], [(0, w[0, 0])]
                print(" step   loss (MSE)   max |w - sobel_x|")
                print(f"{0:5d}   {loss:10.3g}   {np.abs(w - sobel_x).max():17.3g}")
                for step in range(1, STEPS + 1):
                    w = w - LR * dw                                                          # one plain step
                    loss, dw = loss_and_dw(w)
                    losses.append(loss)
                    if step % EVERY == 0:
                        snapshots.append((step, w[0, 0]))
                        print(f"{step:5d}   {loss:10.3g}   {np.abs(w - sobel_x).max():17.3g}")
                seconds = time.perf_counter() - start
                print(f"{STEPS} steps at lr = {LR} in {seconds:.2f} s: max |w - sobel_x| = "
                      f"{np.abs(w - sobel_x).max():.2g}")

                lim = max(np.abs(snapshots[0][1]).max(), 2.0)      # one colour scale for every kernel
                fig, axes = plt.subplots(1, len(snapshots) + 1, figsize=(16, 2.9))
                for ax, (step, kernel) in zip(axes, snapshots):       # 2 decimals: the numbers fit their cells
                    show_grid(ax, kernel.round(2), "random start" if step == 0 else f"step {step}", lim=lim)
                show_grid(axes[-1], sobel_x[0, 0], "sobel_x\\n(made the targets)", lim=lim)
                fig.suptitle(f"the kernel w, every {EVERY} steps of gradient descent", y=1.04)
                plt.show()

                first, last = snapshots[0][1][None, None], w
                maps = [("crop 2: glasses", images[1, 0], "gray"),
                        ("target: sobel_x on it", targets[1, 0], "RdBu_r"),
                        ("random start on it", conv2d_forward(images, first, no_bias)[1, 0], "RdBu_r"),
                        (f"step {STEPS} on it", conv2d_forward(images, last, no_bias)[1, 0], "RdBu_r")]
                edge = np.abs(targets[1, 0]).max()                 # the three edge maps share a symmetric scale
                fig, axes = plt.subplots(1, 5, figsize=(17, 3.6), layout="constrained",
                                         gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.4]})
                for ax, (title, a, cmap) in zip(axes, maps):
                    shown = ax.imshow(a, cmap=cmap, **({} if cmap == "gray" else {"vmin": -edge, "vmax": edge}))
                    ax.set_title(title)
                    ax.axis("off")
                fig.colorbar(shown, ax=axes[1:4], shrink=0.8, label="edge response")
                axes[4].semilogy(range(STEPS + 1), losses)
                axes[4].set_xlabel("step")
                axes[4].set_ylabel("loss (MSE)")
                axes[4].set_title("loss during gradient descent")
                plt.show()
            '''),
        nb.markdown("""
            The random kernel's edge map has little to do with the target; step by step its numbers slide towards
            `[[1, 0, -1], [2, 0, -2], [1, 0, -1]]`, and after 100 steps at `lr = 0.1` every weight is within 0.005
            of `sobel_x` (max |w - sobel_x| = 0.0046, loss 1.6e-5). With the notebook's solutions the 100 steps took
            under a second (0.2 to 0.7 s measured on two shared cores); a `conv2d_forward` and `conv2d_backward` that
            loop over every output pixel in Python took 4.6 s. After the first few steps the loss falls by a nearly
            constant factor per step, a straight line on the log scale: the mean squared error is a quadratic bowl
            in the nine weights.

            **The learning rate.** Each step multiplies the error along each of the bowl's nine main directions
            by `1 - lr * curvature`. For these crops the steepest curvature is 8.16, so any `lr` above
            `2 / 8.16 ≈ 0.245` makes that factor worse than -1: the kernel overshoots further each step and the
            loss explodes (try `LR = 0.3`: after 100 steps the loss is about 1e32). Below that limit the rate sets
            the speed: `max |w - sobel_x|` first drops under 0.01 after 173 steps at 0.05, 86 at 0.1 and 42 at 0.2,
            but 74 at 0.24, where the steepest direction flips sign at every step and barely shrinks (factor
            -0.96). On the raw crops (pixel values 0 .. 1, not standardised) the steepest and the flattest
            curvature are 100 times apart instead of 19, and even the best rate needs about 200 steps.

            A CNN learns every one of its kernels this way, except that no kernel made its targets: the targets
            are the labels, and the gradient reaches each kernel through the layers above it.
            """),
    ]
