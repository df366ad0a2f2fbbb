"""The cnn notebook's sanity checks (CS231n's habits) and its map of the network: demo cells placed by
``_cnn_cells.teaching()``.

Each check runs the student's own functions and prints one line per thing it checked, ending in ``OK`` or
``MISMATCH`` (tests/assignments/test_notebooks_34.py fails a notebook that prints ``MISMATCH``). The numbers the text
quotes were measured on the reference solution (the notebook's solution computes the same), on 2 shared cores:
tests/assignments/test_cnn_checks.py runs these cells on the solution and on broken functions.
"""
from __future__ import annotations

from assignments.authoring import nb

__all__ = ["architecture", "explainer", "init_check", "forward_check", "gradient_check", "overfit_check",
           "divergence_check", "GRADS_VERDICT", "OVERFIT_MISSED", "NO_SGD_STEP"]

# What the gradient check concludes (the parameters are listed from the top of the network down: the gradient
# flows that way, so the first wrong one places the mistake).
GRADS_VERDICT = "right: {right}; wrong: {wrong}"
GRADS_WHERE = ("the gradients are right down to {last_right} and wrong from {first_wrong} on: look at the backward "
               "calls between them in cnn_backward (and the layer functions they call)")
OVERFIT_MISSED = ("MISMATCH: 50 digits not all learnt in {epochs} epochs (the reference needs 7 to 13): a network "
                  "that cannot memorise 50 digits has a bug; run the gradient check above")
NO_SGD_STEP = "your train_cnn never called sgd_step, so this cell could not make it step uphill"

# The architecture, as the table at the top: (what the layer does, its parameters, the output per digit).
_LAYERS = '''[("input", "", (1, 8, 8)),
              ("conv 5x5, pad 2\\n+ ReLU", "w1 (16, 1, 5, 5)\\nb1 (16,)", (16, 8, 8)),
              ("max pool 2x2", "", (16, 4, 4)),
              ("conv 5x5, pad 2\\n+ ReLU", "w2 (36, 16, 5, 5)\\nb2 (36,)", (36, 4, 4)),
              ("max pool 2x2", "", (36, 2, 2)),
              ("flatten", "", (144,)),
              ("dense", "w3 (144, 10)\\nb3 (10,)", (10,)),
              ("softmax\\n(in the loss)", "", (10,))]'''


def architecture() -> list:
    return [
        nb.markdown("""
            **The network at a glance.** Each block below is what one digit becomes after a layer: a stack of
            feature maps (drawn to scale: 8x8, then 4x4, then 2x2; one sheet per filter, at most 8 drawn) or a
            vector. Between the blocks, the operation and the parameters it learns.
            """),
        nb.demo_code(f'''
            from matplotlib.patches import Rectangle

            LAYERS = {_LAYERS}


            @picture
            def _():
                fig, ax = plt.subplots(figsize=(14, 4.2))
                x, unit, gap = 0.0, 0.32, 1.9
                for i, (operation, params, shape) in enumerate(LAYERS):
                    if len(shape) == 3:
                        channels, side = shape[0], shape[1] * unit
                        sheets = min(channels, 8)
                        for s in range(sheets):   # back to front, each sheet a little up and right
                            ax.add_patch(Rectangle((x + 0.07 * s, -side / 2 + 0.07 * s), side, side,
                                                   facecolor="#9ecae1" if i else "#dddddd", edgecolor="#08519c", lw=0.8))
                        width = side + 0.07 * (sheets - 1)
                        label = " x ".join(map(str, shape))
                    else:
                        width, height = 0.3, min(shape[0], 60) * 0.06
                        ax.add_patch(Rectangle((x, -height / 2), width, height, facecolor="#fdd0a2", edgecolor="#a63603"))
                        label = str(shape[0])
                    ax.text(x + width / 2, -1.9, label, ha="center", va="top", fontsize=10, weight="bold")
                    if i == 0:
                        ax.text(x + width / 2, 1.9, operation, ha="center", va="bottom", fontsize=9)
                    else:                         # the operation that made this block, over the arrow into it
                        mid = x - gap / 2
                        ax.annotate("", xy=(x - 0.1, 0), xytext=(x - gap + 0.1, 0),
                                    arrowprops=dict(arrowstyle="->", color="gray"))
                        ax.text(mid, 1.9, operation, ha="center", va="bottom", fontsize=9)
                        ax.text(mid, -2.55, params, ha="center", va="top", fontsize=8, color="#a63603")
                    x += width + gap
                ax.set_xlim(-0.5, x - gap + 0.5)
                ax.set_ylim(-3.4, 2.8)
                ax.set_aspect("equal")
                ax.axis("off")
                ax.set_title("the capstone's network: what one 8x8 digit becomes, layer by layer "
                             "(bold: the shape; brown: the learnt parameters)")
                plt.show()
            '''),
    ]


def explainer() -> list:
    return [nb.markdown("""
        **See one run in your browser.** Decks 000 and 004 point to [CNN Explainer](https://poloclub.github.io/cnn-explainer/),
        which runs a network of this kind (TinyVGG: two blocks of conv 3x3 -> ReLU -> conv 3x3 -> ReLU -> max pool
        2x2, then flatten and a dense layer to 10 classes) on 64x64 colour photos. What to click:

        - **a map of the first layer (`conv_1_1`)**: it opens the convolution view. Each output pixel is the sum of
          the 3x3 window times the kernel, summed over the three colour channels, plus the bias: your
          `conv2d_forward` (deck 000: the kernel "slides" over the image and gives a feature map). The view slides
          the window for you; hover over an output value to see the window it came from.
        - **a map of `relu_1_1` and of `max_pool_1`**: ReLU keeps the positive values; pooling keeps the largest
          value of each 2x2 window and halves the size (60 -> 30 there, 8 -> 4 here). Its convolutions have no
          padding, so each one also shrinks the maps by 2 (64 -> 62 -> 60); ours pad by 2 and keep 8x8.
        - **a class of the output layer**: the softmax view, the scores on the categories (deck 004) turned into
          probabilities; the flatten step feeding it is drawn too.
        - **another input image** at the top (or your own): every map and the scores change with it.

        Below the network, the article's interactive convolution lets you change the input size, the padding, the
        kernel size and the stride, and watch the output size follow `(H + 2P - K) // S + 1`.
        """)]


def init_check() -> list:
    return [nb.demo_code('''
        # A check of init_cnn: every parameter's shape, the biases zero, the weights' scale sqrt(2 / fan_in).
        @picture
        def _():
            params = init_cnn(seed=0)
            expected = {"w1": (16, 1, 5, 5), "b1": (16,), "w2": (36, 16, 5, 5), "b2": (36,),
                        "w3": (144, 10), "b3": (10,)}
            for key, shape in expected.items():
                got = np.asarray(params.get(key))
                line = f"{key}: shape {str(got.shape):<16} expected {str(shape):<16}"
                ok = got.shape == shape
                if ok and key.startswith("b"):
                    ok = not np.any(got)
                    line += f" all zero: {ok}"
                elif ok:
                    fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
                    # 160 to 14400 draws: their spread is within a few percent of sqrt(2 / fan_in)
                    ratio = got.std() / np.sqrt(2.0 / fan_in)
                    ok = 0.9 < ratio < 1.1
                    line += f" std {got.std():.4f} = {ratio:.2f} x sqrt(2/{fan_in})"
                print(line, "OK" if ok else "MISMATCH")
            same = all(np.array_equal(a, b) for a, b in zip(init_cnn(seed=0).values(), init_cnn(seed=0).values()))
            print("the same seed gives the same network:", "OK" if same else "MISMATCH")
        ''')]


def forward_check() -> list:
    return [
        nb.demo_code('''
            # A check of cnn_forward: the shape of every layer's output for a batch of 5 digits.
            @picture
            def _():
                logits, cache = cnn_forward(init_cnn(seed=0), x_train[:5])
                expected = {"x": (5, 1, 8, 8), "z1": (5, 16, 8, 8), "a1": (5, 16, 8, 8), "p1": (5, 16, 4, 4),
                            "z2": (5, 36, 4, 4), "a2": (5, 36, 4, 4), "p2": (5, 36, 2, 2), "f": (5, 144),
                            "logits": (5, 10)}
                for key, shape in expected.items():
                    got = np.shape(cache[key]) if key in cache else "missing"
                    print(f"{key:>6}: {str(got):<16} expected {str(shape):<16}", "OK" if got == shape else "MISMATCH")
                print("an untrained network guesses:", np.argmax(logits, axis=1), "true:", y_train[:5])
            '''),
        nb.markdown("""
            **The loss before training.** An untrained network knows nothing, so its softmax should spread its
            bets: with probability 1/10 on the right class the loss is `-ln(1/10) = ln 10 = 2.30`. With zero
            biases and He-scaled weights the scores are not all equal (their spread is about 0.5), and a spread
            costs more than an even bet: over seeds 0 to 49, the reference network's loss on these 100 digits was
            2.34 to 3.66 (median 2.65), never below ln 10. A loss far outside that range before any training (say
            10, or 0.1) means the weights' scale, the forward pass or the loss is wrong.
            """),
        nb.demo_code('''
            @picture
            def _():
                logits, _ = cnn_forward(init_cnn(seed=0), x_train[:100])
                loss = float(cross_entropy(logits, y_train[:100]))
                print(f"loss at initialisation: {loss:.2f} (ln 10 = {np.log(10):.2f}; the reference over 50 seeds: "
                      f"2.34 to 3.66)", "OK" if 2.0 < loss < 4.5 else "MISMATCH")
            '''),
    ]


def gradient_check() -> list:
    return [nb.demo_code(f'''
        # Every parameter's gradient against your numerical_gradient: which are right, and where a mistake sits.
        @picture
        def _():
            small = init_cnn(seed=1, filters=(4, 6), kernel_size=3)
            # Non-zero biases: with zero biases, blank regions give pre-activations of exactly 0, where ReLU has
            # a kink and the numerical slope is meaningless.
            rng = np.random.default_rng(2)
            small.update({{k: rng.normal(0.0, 0.1, small[k].shape) for k in ("b1", "b2", "b3")}})
            xs, ys = x_train[:3], y_train[:3]
            loss, grads = cnn_loss_and_grads(small, xs, ys)
            print(f"loss {{loss:.4f}} (a random guess over 10 classes scores about ln 10 = {{np.log(10):.2f}})")
            right, wrong = [], []
            for key in ("w3", "b3", "w2", "b2", "w1", "b1"):   # top of the network first: the gradient flows down
                def loss_of(value, key=key):
                    return np.array(cnn_loss_and_grads({{**small, key: value}}, xs, ys)[0])
                numeric = numerical_gradient(loss_of, small[key].copy(), np.array(1.0))
                got = np.asarray(grads.get(key, np.full(numeric.shape, np.nan)), dtype=float)
                if got.shape != numeric.shape:
                    err = np.inf
                else:
                    err = np.linalg.norm(got - numeric) / max(np.linalg.norm(got) + np.linalg.norm(numeric), 1e-12)
                (right if err < 1e-6 else wrong).append(key)
                print(f"{{key}} {{str(numeric.shape):<14}}: relative error {{err:.1e}}", "OK" if err < 1e-6 else "MISMATCH")
            print({GRADS_VERDICT!r}.format(right=", ".join(right) or "none", wrong=", ".join(wrong) or "none"))
            order = ("w3", "b3", "w2", "b2", "w1", "b1")
            if wrong and right and order.index(wrong[0]) > 0 and set(order[:order.index(wrong[0])]) <= set(right):
                print({GRADS_WHERE!r}.format(last_right=order[order.index(wrong[0]) - 1], first_wrong=wrong[0]))
        ''')]


def overfit_check() -> list:
    return [
        nb.markdown("""
            **Can it memorise 50 digits?** Before a long training run, check that the network can fit a handful of
            digits perfectly: with enough parameters (16,302 here) a correct network learns 50 digits by
            heart within a few epochs, and one that cannot has a bug, whatever its loss curve looks like. The
            cell trains on the first 50 training digits (10 per batch) and stops as soon as `predict` gets all 50
            right. Measured on the reference: 7 to 13 epochs over seeds 0 to 7 (12 for seed 0), under half a second
            on 2 shared cores (6 s when other work kept them busy). Its validation accuracy stays at 0.73 to 0.84 (those seeds): 50 digits learnt by
            heart are not enough to read the others. That gap is **overfitting** at its most extreme.
            """),
        nb.demo_code(f'''
            class _Memorised(Exception):
                """Raised by the callback below to stop training once the 50 digits are learnt."""


            @picture
            def _():
                x50, y50 = x_train[:50], y_train[:50]
                start, learnt = time.perf_counter(), []

                def watch(epoch, params, history):
                    if np.mean(predict(params, x50) == y50) == 1.0:
                        learnt.append((epoch, time.perf_counter() - start, params))
                        raise _Memorised

                try:
                    train_cnn(x50, y50, epochs=60, lr=0.1, batch_size=10, callback=watch)
                except _Memorised:
                    pass
                if not learnt:
                    print({OVERFIT_MISSED!r}.format(epochs=60))
                    return
                epoch, seconds, params = learnt[0]
                print(f"all 50 training digits right after {{epoch}} epochs ({{seconds:.1f}} s); on the validation "
                      f"digits: accuracy {{np.mean(predict(params, x_val) == y_val):.3f}}")
            '''),
    ]


def divergence_check() -> list:
    return [
        nb.markdown("""
            **When training diverges.** Your `train_cnn` calls `check_finite(logits)` on every batch: once the
            scores overflow to inf or NaN, nothing after them means anything, so training stops with
            `FloatingPointError` and says so. The most common cause is a sign: `w + lr * dL/dw` climbs the loss
            instead of descending it. The cell below swaps in such an uphill `sgd_step` (your `sgd_step` with the
            gradient negated) for one run: measured on the reference, the logits overflow within 10 steps.
            A learning rate far too large (here 5, fifty times the default) fails differently, as the second run
            shows: its first huge steps push every ReLU of the second layer to 0 for every digit (measured on the
            reference, seeds 0 to 2: none of them stays positive), the network then gives every digit the same
            scores, and the loss settles near ln 10 = 2.3 with chance accuracy (about 0.1) instead of overflowing.
            Nothing is left to learn from: a dead network's gradients are 0.
            """),
        nb.demo_code(f'''
            @picture
            def _():
                global sgd_step
                yours, steps = sgd_step, []

                def uphill_step(params, grads, lr):
                    steps.append(1)
                    return yours(params, {{k: -g for k, g in grads.items()}}, lr)

                sgd_step = uphill_step
                try:
                    with np.errstate(over="ignore", invalid="ignore"):
                        train_cnn(x_train, y_train, epochs=1)
                    print({NO_SGD_STEP!r} if not steps else f"{{len(steps)}} uphill steps and the logits stayed finite")
                except FloatingPointError as exc:
                    print(f"uphill sgd_step: training stopped after {{len(steps)}} steps: {{exc}}")
                finally:
                    sgd_step = yours
                with np.errstate(over="ignore", invalid="ignore"):
                    dead, history = train_cnn(x_train, y_train, epochs=2, lr=5.0)
                    _, cache = cnn_forward(dead, x_train)
                print(f"lr = 5: loss per epoch {{np.round(history['loss'], 2)}}, accuracy "
                      f"{{np.round(history['accuracy'], 2)}}; second-layer ReLU outputs above 0: "
                      f"{{np.mean(cache['a2'] > 0):.1%}}; classes predicted: {{np.unique(np.argmax(cache['logits'], 1))}}")
            '''),
    ]
