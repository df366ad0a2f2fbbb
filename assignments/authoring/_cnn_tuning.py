"""The cnn notebook's overfitting reading (the train/validation gap of the student's own training) and the guided
table of hyperparameters (filters, learning rate, pooling): demo cells placed by ``_cnn_cells.teaching()``.

The numbers the text quotes were measured on the reference solution (the notebook's solution computes the same) on
2 shared cores; each cell prints the student's own.
"""
from __future__ import annotations

from assignments.authoring import nb

__all__ = ["overfitting", "hyperparameters", "STILL_FALLING", "RISING"]

# How the overfitting cell reads the student's validation loss.
STILL_FALLING = ("the validation loss is lowest at the last epoch: more epochs may still help the validation digits, "
                 "even as the gap grows")
RISING = ("the validation loss was lowest at epoch {best} and has not come back down since: from there on, training "
          "fits the training digits at the cost of new ones (stop earlier, or keep the parameters of epoch {best})")


def overfitting() -> list:
    return [
        nb.markdown("""
            **Overfitting: read the gap.** The network is trained on the training digits only; the validation
            digits show how it does on digits it has not seen. On the reference solution the curves above part
            ways from epoch 3: the training loss keeps falling steeply (0.27 -> 0.025 from epoch 3 to 15, a
            straight slide on the log scale), while the validation loss flattens (0.12 at epoch 8, 0.088 at 15),
            and the accuracies end at 0.998 (training, by `predict` after the last epoch) against 0.972. The
            difference is the **generalisation gap**. A gap that keeps growing while the validation loss stops
            improving is **overfitting**: the network learns the particular training digits (their writers' quirks,
            even their noise) rather than what a 3 looks like in general. Here the validation loss is still (barely)
            falling at epoch 15, so this network has begun to overfit mildly, not yet enough to hurt: more epochs
            would widen the gap for little gain. The cell prints your numbers and reads your validation loss. (The
            overfit-50 check above showed the extreme: 1.000 on 50 digits, 0.84 on the rest.)
            """),
        nb.demo_code(f'''
            @picture
            def _():
                if not need_training():
                    return
                epochs = len(history["loss"])
                train_acc, val_acc = np.mean(predict(trained, x_train) == y_train), np.mean(predict(trained, x_val) == y_val)
                best = int(np.argmin(history["val_loss"])) + 1
                print(f"after {{epochs}} epochs: accuracy {{train_acc:.3f}} on the training digits, {{val_acc:.3f}} on the "
                      f"validation digits (a gap of {{100 * (train_acc - val_acc):.1f}} points)")
                print(f"loss {{history['loss'][-1]:.3f}} (training, the mean over the last epoch) against "
                      f"{{history['val_loss'][-1]:.3f}} (validation); the validation loss was lowest at epoch {{best}} "
                      f"({{min(history['val_loss']):.3f}})")
                print({STILL_FALLING!r} if best == epochs else {RISING!r}.format(best=best))
            '''),
    ]


def hyperparameters() -> list:
    return [
        nb.markdown("""
            ## 11. Choosing hyperparameters

            The filter counts, the learning rate and the kind of pooling are
            not learnt: you choose them, by trying. The cell below trains a few variants of your network for a
            few epochs each (the same seed, the same digits) and prints each one's accuracy and time. Only one
            thing changes per row, compared with the first. For the average-pooling row the cell points the names
            `max_pool2d` and `max_pool2d_backward` at your `avg_pool2d` and `avg_pool2d_backward` for that run
            (your `cnn_forward` and `cnn_backward` look them up when called).

            Measured on the reference, 5 epochs per row (the whole table: 5 s of CPU time, 15 s on 2 busy shared
            cores): 4 and 8 filters train three to four times faster than 16 and 36 but reach 0.78 validation
            accuracy against 0.93; lr 0.01 is too timid for 5 epochs (0.85), and 0.3 gets further (0.97) than the
            default 0.1 in this short run; average pooling lags far behind max pooling after 5 epochs (0.70).
            Choose by the **validation** column: the training column rewards memorising. Edit `TABLE_EPOCHS` or
            `RUNS` to try your own (each row's time grows with the filters and the epochs).
            """),
        nb.demo_code('''
            TABLE_EPOCHS = 5
            RUNS = [  # (filters, learning rate, pooling): the first row is the network of this notebook
                ((16, 36), 0.1, "max"),
                ((4, 8), 0.1, "max"),
                ((8, 16), 0.1, "max"),
                ((16, 36), 0.01, "max"),
                ((16, 36), 0.3, "max"),
                ((16, 36), 0.1, "average"),
            ]
            '''),
        nb.demo_code('''
            def train_variant(filters, lr, pooling):
                """Train for TABLE_EPOCHS; with "average", max pooling is swapped for your average pooling meanwhile."""
                global max_pool2d, max_pool2d_backward
                yours = max_pool2d, max_pool2d_backward
                if pooling == "average":
                    max_pool2d, max_pool2d_backward = avg_pool2d, avg_pool2d_backward
                try:
                    start = time.perf_counter()
                    params, _ = train_cnn(x_train, y_train, epochs=TABLE_EPOCHS, lr=lr,
                                          params=init_cnn(seed=0, dtype=np.float32, filters=filters))
                    row = (np.mean(predict(params, x_train) == y_train), np.mean(predict(params, x_val) == y_val))
                    return row + (time.perf_counter() - start,)
                finally:
                    max_pool2d, max_pool2d_backward = yours


            @picture
            def _():
                print(f"{'filters':>9} {'lr':>5} {'pooling':>8} | {'train acc':>9} {'val acc':>8} {'seconds':>7}")
                for filters, lr, pooling in RUNS:
                    train_acc, val_acc, seconds = train_variant(filters, lr, pooling)
                    print(f"{str(filters):>9} {lr:>5g} {pooling:>8} | {train_acc:>9.3f} {val_acc:>8.3f} {seconds:>7.1f}")
            '''),
    ]
