"""The teaching cells of the cnn notebook (slides 004: how a CNN recognises a digit, and training it).

``teaching()`` returns the notebook in order: markdown and demo cells, and, where a student function belongs, its
name (the driver puts the solution cell and, for graded functions, the check cell there). The training and every
picture are demo cells: the loader and the grader never run them. The data is ``digits_train.npz`` beside the
notebook (training digits only; the grader keeps the held-out digits).
"""
from __future__ import annotations

from assignments.authoring import nb
from assignments.authoring._cnn_checks import (architecture, divergence_check, explainer, forward_check, gradient_check,
                                              init_check, overfit_check)
from assignments.authoring._cnn_solutions import SETUP, layer_paste_cells
from assignments.authoring._cnn_tuning import hyperparameters, overfitting
from autograder.suites.cnn import DATA_FILE  # the file a release carries beside the notebook

__all__ = ["teaching", "DATA_FILE"]


def teaching() -> list:
    forward_paste, backward_paste = layer_paste_cells()
    return [
        nb.markdown("""
            # Assignment 4 — A CNN that reads handwritten digits

            How do *you* recognise a digit? From experience you know the patterns each digit shares: a "0" is a
            circle, a "1" a near-vertical line, a "9" a circle on top of a line, a "5" two reversed corners. A
            convolutional network learns the same way. Its first convolutions pick up **basic features** (edges,
            corners, short lines), the next combine them into **higher-level features** (loops, strokes), and a fully
            connected layer recognises which **pattern of features** each class has. Nobody designs the filters:
            they start random and training adjusts every weight, by gradient descent on the loss, until the feature
            maps separate the ten digits.

            In this assignment you build and train exactly the network of the slides, from **your own functions**
            of assignments 1-3, on real handwritten digits:

            | layer | parameters | output |
            | --- | --- | --- |
            | input | | `(N, 1, 8, 8)` |
            | conv 5x5, pad 2 | `w1 (16, 1, 5, 5)`, `b1 (16,)` | `(N, 16, 8, 8)` |
            | ReLU, max pool 2x2 | | `(N, 16, 4, 4)` |
            | conv 5x5, pad 2 | `w2 (36, 16, 5, 5)`, `b2 (36,)` | `(N, 36, 4, 4)` |
            | ReLU, max pool 2x2 | | `(N, 36, 2, 2)` |
            | flatten | | `(N, 144)` |
            | dense | `w3 (144, 10)`, `b3 (10,)` | `(N, 10)` scores |
            | softmax (inside the loss) | | `(N, 10)` probabilities |

            The slides draw it for 28x28 images (16 and 36 filters of 5x5, 28 -> 14 -> 7); our digits are 8x8, so
            the maps shrink 8 -> 4 -> 2, and the 144 features go straight to the 10 classes.

            Stacking convolutions widens what one output sees: each value of the second layer's maps reads a 5x5
            window of the first layer's maps, each of which read a 5x5 window of pixels. (**An erratum:** deck 003
            says that stacking 2 3x3 kernels is preferable to 1 9x9 kernel. Two stacked 3x3 kernels see a 5x5
            window, `3 + (3 - 1) = 5` pixels across, so they stand in for one 5x5 kernel, with 2 x 9 = 18 weights
            instead of 25; matching a 9x9 window takes four stacked 3x3 kernels, `3 + 3 x 2 = 9`.)

            | function | what it does |
            | --- | --- |
            | `init_cnn(seed, dtype, filters, kernel_size)` | random starting weights |
            | `cnn_forward(params, x)` | `(logits, cache)` |
            | `cnn_backward(params, cache, dlogits)` | the gradient of every parameter |
            | `cnn_loss_and_grads(params, x, y)` | `(loss, grads)` |
            | `sgd_step(params, grads, lr)` | one step downhill |
            | `train_cnn(x, y, ...)` | `(params, history)` |
            | `predict(params, x)` | the class of each image |

            **Grading.** Besides the checks below, the grader trains your network with your `train_cnn` and measures
            its accuracy on **held-out digits you never see** (they are not in this folder, and your code cannot read
            them while it is graded). The accuracy is that of the network in the table above, on the parameters your
            `train_cnn` returns, so return them as `init_cnn` lays them out: a dict of `w1` ... `b3` (float32 or
            float64). Your `predict` must compute that same network (the argmax of `cnn_forward`'s logits): the
            grader runs it on the held-out digits too, and if it disagrees with the network on more than 5% of them,
            the accuracy earns nothing. A correct implementation reaches about 97%, and trains in well under two
            minutes.
            """),
        nb.setup_cell(SETUP),
        nb.picture_helpers(),
        *architecture(),
        *explainer(),
        nb.markdown(f"""
            ## 1. The data

            scikit-learn's handwritten digits: 8x8 images with 17 grey levels, written by 43 people. This folder
            holds the training part in `{DATA_FILE}`: `x_train (N, 1, 8, 8)` with values in `[0, 1]`, and the labels
            `y_train (N,)`. We keep a fifth of it aside as a **validation** set: the network never trains on it,
            so it tells us honestly how well the network does on digits it has not seen.
            """),
        nb.demo_code(f'''
            data = np.load("{DATA_FILE}")
            x_all, y_all = data["x_train"], data["y_train"]
            split = np.random.default_rng(0).permutation(len(y_all))
            n_val = len(y_all) // 5
            x_val, y_val = x_all[split[:n_val]], y_all[split[:n_val]]
            x_train, y_train = x_all[split[n_val:]], y_all[split[n_val:]]
            print(f"training: {{x_train.shape}}, validation: {{x_val.shape}}, pixel values in [{{x_all.min()}}, {{x_all.max()}}]")


            @picture
            def _():
                fig, axes = plt.subplots(4, 10, figsize=(10, 4.4))
                for d in range(10):
                    for r, k in enumerate(np.flatnonzero(y_train == d)[:4]):
                        axes[r, d].imshow(x_train[k, 0], cmap="gray_r", vmin=0, vmax=1)
                        axes[r, d].axis("off")
                    axes[0, d].set_title(str(d))
                plt.suptitle("four training examples of each digit")
                plt.show()
            '''),
        nb.markdown("""
            ## 2. Bring in your layers

            The network is made of the functions you wrote before. Paste them into the two cells below, replacing
            the stubs (keep the names and signatures). They were graded in their own assignments and are not graded
            again here, but everything below runs on them: if the network does not learn, re-run their assignments'
            checks first.
            """),
        forward_paste,
        backward_paste,
        nb.markdown("""
            ## 3. Starting weights

            Training starts from random filters: if every weight were equal, every filter would receive the same
            gradient and stay a copy of the others. But the scale of the random numbers matters. A convolution adds up
            `fan_in = C * KH * KW` products; with weights of standard deviation `s`, its output has a standard
            deviation of about `s * sqrt(fan_in)` times that of its input, and a ReLU halves the variance. Layer after
            layer, signals would explode or die out. **He initialisation** picks `s = sqrt(2 / fan_in)`, which keeps
            the scale steady through ReLU layers. Biases start at zero.

            Write `init_cnn`: draw `w1`, `w2`, `w3` in that order from `np.random.default_rng(seed)` with
            `rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)`, so that a given seed always gives the same network.
            """),
        "init_cnn",
        *init_check(),
        nb.markdown("""
            ## 4. The forward pass

            Chain your layers as in the table at the top. Pad each 5x5 convolution by 2 (`K // 2`, "same" padding),
            so that only the pooling shrinks the maps. Return the logits, and a `cache` dict of every intermediate
            result: the backward pass needs each layer's input.
            """),
        "cnn_forward",
        *forward_check(),
        nb.markdown("""
            ## 5. The backward pass and the loss

            Backpropagation walks the table from the bottom up: start from `dlogits` and call each layer's backward
            pass with the gradient from above and **the input that layer saw in the forward pass** (from the cache).
            The gradient of the input image is not needed (we do not change the data), only those of the weights.
            `cnn_loss_and_grads` puts it together: forward, the loss, `softmax_cross_entropy_backward` for
            `dlogits`, backward.

            Then the moment of truth: a gradient check of the **whole network**, every parameter against your
            `numerical_gradient`, on a small network (4 and 6 filters of 3x3) and three digits in float64. (Ties and
            kinks make a numerical slope meaningless, so the check uses small random biases: with zero biases, blank
            regions of a digit give pre-activations of exactly 0, right on ReLU's kink.) It runs after the graded
            check, and when that one fails it tells you more: the relative error of each parameter's gradient,
            `|analytic - numeric| / (|analytic| + |numeric|)` (1e-6 or less is right), listed from the top of the
            network down. The gradient flows that way, so if `w3` and `b3` are right and `w2` is wrong, the mistake
            lies between the dense layer's backward pass and the second convolution's.
            """),
        "cnn_backward",
        "cnn_loss_and_grads",
        *gradient_check(),
        nb.markdown("""
            ## 6. Gradient descent

            The gradient points uphill: the direction in which the loss grows fastest. A small step the other way
            lowers the loss: `w <- w - lr * dL/dw` for every parameter, with a **learning rate** `lr`. Too small and
            training crawls; too large and it overshoots and diverges. Return a new dict; leave `params` unchanged.
            """),
        "sgd_step",
        nb.markdown("""
            ## 7. Predictions

            The predicted class is the one with the highest score (softmax does not change the order, so the logits
            suffice). Work through `x` in batches so that memory stays bounded for any number of images. (`predict` comes before
            the training loop because the check of `train_cnn` trains your network and scores its predictions.)
            """),
        "predict",
        nb.markdown("""
            ## 8. The training loop

            Computing the gradient on all training digits for each step would be slow; **mini-batch SGD** estimates
            it from a small random batch (32 digits) and steps after each. One pass over the training set is an
            **epoch**; shuffle the order at the start of every epoch so the batches differ.

            Per epoch, record the mean training loss and accuracy over its batches (as they were met, while the
            weights moved), the seconds it took, and, with `validation=(x_val, y_val)`, the loss and accuracy on the
            validation set at the end of the epoch. Train in float32 by default: half the memory traffic of float64,
            about twice as fast, and just as accurate here.
            """),
        "train_cnn",
        *overfit_check(),
        *divergence_check(),
        nb.markdown("""
            ## 9. Train it!

            The cell below trains for 15 epochs and watches the validation accuracy. Expect well under two minutes;
            if it takes far longer, one of your layers loops over pixels in Python (vectorise it with slices).
            """),
        nb.demo_code('''
            trained, history = None, None


            @picture
            def _():
                global trained, history
                start = time.perf_counter()
                trained, history = train_cnn(x_train, y_train, validation=(x_val, y_val),
                                             callback=lambda e, p, h: print(f"epoch {e:2d}: loss {h['loss'][-1]:.3f}, "
                                                                            f"val accuracy {h['val_accuracy'][-1]:.3f}"))
                print(f"trained in {time.perf_counter() - start:.1f} s")
            '''),
        nb.demo_code('''
            def need_training():
                if trained is None:
                    print("train the network above to see this picture")
                return trained is not None


            @picture
            def _():
                if not need_training():
                    return
                epochs = np.arange(1, len(history["loss"]) + 1)
                fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
                left.plot(epochs, history["loss"], "o-", label="training")
                left.plot(epochs, history["val_loss"], "s-", label="validation")
                left.set_xlabel("epoch")
                left.set_ylabel("cross-entropy loss")
                left.set_yscale("log")
                left.legend()
                right.plot(epochs, history["accuracy"], "o-", label="training")
                right.plot(epochs, history["val_accuracy"], "s-", label="validation")
                right.set_xlabel("epoch")
                right.set_ylabel("accuracy")
                right.legend()
                plt.suptitle("the training curve")
                plt.show()
            '''),
        *overfitting(),
        nb.markdown("""
            ## 10. What did it learn?

            **The filters.** The 16 first-layer filters started as random noise (top row), and after 15 epochs they
            still look like it (second row): each trained filter correlates about 0.94 to 1.00 with its own random
            start (measured on the reference solution after 15 epochs, and 0.92 to 1.00 after 30; the cell prints
            yours). On 1438 small digits, a few hundred SGD steps *nudge* the random weights rather than redesign
            them: do not expect the clean edge detectors of a network trained for days on millions of photographs.

            Two views show what training did change. The third row is the change `w_after - w_before`, on its own
            colour scale, symmetric about 0 (red: the weight grew, blue: it shrank): about 10 to 60 percent of each
            filter's size (the cell prints yours). It is patchy too, but in several filters it gathers into a bar
            or into red and blue blobs side by side, where the filter began to weigh one part of a stroke against
            its neighbour. The last row asks the data instead of the weights: for each filter, the mean of the 50
            digit patches (5x5 windows of the validation digits, as the layer reads them) that excite it most.
            There the filters' roles show: a vertical bar, a horizontal bar, a corner, the end of a stroke, even
            though the filters themselves still look random.
            """),
        nb.demo_code('''
            @picture
            def _():
                if not need_training():
                    return
                before, after = init_cnn(seed=0)["w1"].astype(np.float64), trained["w1"].astype(np.float64)
                change = after - before
                corr = [np.corrcoef(before[k].ravel(), after[k].ravel())[0, 1] for k in range(len(after))]
                size = [np.linalg.norm(change[k]) / np.linalg.norm(before[k]) for k in range(len(after))]
                # Every 5x5 window of the validation digits, padded by 2 as the layer reads them: (P, 25).
                padded = np.pad(x_val[:, 0].astype(np.float64), ((0, 0), (2, 2), (2, 2)))
                patches = np.lib.stride_tricks.sliding_window_view(padded, (5, 5), axis=(1, 2)).reshape(-1, 25)
                responses = patches @ after[:, 0].reshape(len(after), 25).T          # (P, 16); the bias adds a constant
                top = np.argsort(responses, axis=0)[-50:]                             # the 50 strongest, per filter
                exciting = patches[top].mean(axis=0)                                  # (16, 25)
                wlim, clim = np.abs(np.stack([before, after])).max(), np.abs(change).max()
                fig, axes = plt.subplots(4, 16, figsize=(15, 4.9))
                for k in range(16):
                    im_w = axes[0, k].imshow(before[k, 0], cmap="RdBu_r", vmin=-wlim, vmax=wlim)
                    axes[1, k].imshow(after[k, 0], cmap="RdBu_r", vmin=-wlim, vmax=wlim)
                    axes[1, k].set_title(f"r={corr[k]:.2f}", fontsize=7)
                    im_c = axes[2, k].imshow(change[k, 0], cmap="RdBu_r", vmin=-clim, vmax=clim)
                    im_p = axes[3, k].imshow(exciting[k].reshape(5, 5), cmap="gray_r", vmin=0, vmax=1)
                for ax in axes.flat:
                    ax.set_xticks([]); ax.set_yticks([])
                for row, label in enumerate(["before", "after", "after - before", "top-50 patches"]):
                    axes[row, 0].set_ylabel(label, fontsize=8)
                fig.colorbar(im_w, ax=axes[:2].ravel().tolist(), shrink=0.8, label="weight")
                fig.colorbar(im_c, ax=axes[2].tolist(), shrink=0.8, label="change")
                fig.colorbar(im_p, ax=axes[3].tolist(), shrink=0.8, label="ink")
                plt.show()
                print(f"correlation of each trained filter with its random start: {min(corr):.2f} to {max(corr):.2f}; "
                      f"size of the change: {min(size):.0%} to {max(size):.0%} of the filter's")
            '''),
        nb.markdown("""
            **The feature maps of one digit.** Each first-layer filter turns the digit into a map of where its
            feature appears (after the ReLU: only the positive responses). The second layer's 36 maps, 4x4, combine
            them: coarser in space, richer in meaning. The dense layer reads the 36 pooled 2x2 maps.
            """),
        nb.demo_code('''
            @picture
            def _():
                if not need_training():
                    return
                k = int(np.flatnonzero(y_val == 0)[0])
                _, cache = cnn_forward(trained, x_val[k:k + 1])
                fig = plt.figure(figsize=(13, 4.8))
                outer = fig.add_gridspec(1, 2, width_ratios=[1, 5])
                ax = fig.add_subplot(outer[0])
                ax.imshow(x_val[k, 0], cmap="gray_r")
                ax.set_title(f"the digit ({y_val[k]})")
                ax.axis("off")
                grid = outer[1].subgridspec(5, 12)
                for f in range(16):
                    ax = fig.add_subplot(grid[f // 8, f % 8])
                    ax.imshow(cache["a1"][0, f], cmap="viridis")
                    ax.axis("off")
                for f in range(36):
                    ax = fig.add_subplot(grid[2 + f // 12, f % 12])
                    ax.imshow(cache["a2"][0, f], cmap="viridis")
                    ax.axis("off")
                fig.text(0.25, 0.92, "layer 1: 16 maps of 8x8, after ReLU")
                fig.text(0.25, 0.55, "layer 2: 36 maps of 4x4, after ReLU")
                plt.show()
            '''),
        nb.markdown("""
            **The confusion matrix** counts, for each true digit (row), how often the network predicted each digit
            (column), on the validation set. A perfect classifier has numbers only on the diagonal; the others show
            which digits it confuses (often those whose patterns the slides say overlap, like a 9 and a 3, or an 8
            and a 1).
            """),
        nb.demo_code('''
            @picture
            def _():
                if not need_training():
                    return
                predicted = predict(trained, x_val)
                confusion = np.bincount(y_val * 10 + predicted, minlength=100).reshape(10, 10)
                fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.2, 1]})
                left.imshow(confusion, cmap="Blues")
                for (r, c), v in np.ndenumerate(confusion):
                    if v:
                        left.text(c, r, str(v), ha="center", va="center", color="white" if v > confusion.max() / 2 else "black")
                left.set_xticks(range(10))
                left.set_yticks(range(10))
                left.set_xlabel("predicted")
                left.set_ylabel("true")
                left.set_title(f"validation accuracy {np.mean(predicted == y_val):.3f}")
                wrong = np.flatnonzero(predicted != y_val)[:12]
                right.axis("off")
                right.set_title("some mistakes (true -> predicted)")
                for i, k in enumerate(wrong):
                    ax = fig.add_axes([0.56 + 0.09 * (i % 4), 0.6 - 0.26 * (i // 4), 0.08, 0.2])
                    ax.imshow(x_val[k, 0], cmap="gray_r")
                    ax.set_title(f"{y_val[k]} -> {predicted[k]}", fontsize=9)
                    ax.axis("off")
                plt.show()
            '''),
        *hyperparameters(),
        nb.markdown("""
            ## Where to go from here

            You have written, from scratch, every piece of a convolutional network: convolution, pooling, the
            non-linearity, the classifier, the gradients of all of them, and the training loop. Deep-learning
            libraries do exactly this, on GPUs and with automatic differentiation. Ideas to try (not graded): a
            momentum term in `sgd_step`, a learning rate that decays over the epochs, the table of section 11 run
            for 15 epochs (do the rankings hold? does average pooling catch up?), or the slides' 128-unit hidden
            dense layer.

            Before you submit: *Kernel -> Restart & Run All*, and check that every check cell passes.
            """),
    ]
