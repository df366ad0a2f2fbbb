"""The pictures of the layers notebook that need more than a few lines: ReLU on a crop of the edge map beside the
ReLU graph, the slides' 4x4 pooling example as number grids, and max pooling's tolerance to a one-pixel shift.
The notebook's reading order is in :mod:`assignments.authoring.layers`.
"""
from __future__ import annotations

import numpy as np

from assignments.authoring import nb
from assignments.authoring.nb import demo_code, markdown

__all__ = ["relu_picture", "pooling_grids", "shift_tolerance"]


def relu_picture():
    """The edge map before and after ``relu``, cropped to the stars of the flag, and the graph of ReLU."""
    return demo_code("""
        @picture
        def _():
            top, left, size = 50, 0, 160            # the stars of the flag: strong edges of both signs
            x = EDGES[0, 0, top:top + size, left:left + size]
            lim = np.abs(x).max()                    # one symmetric scale for both maps: 0 is white
            fig, axes = plt.subplots(1, 3, figsize=(16, 4.4), layout="constrained")
            for ax, m, title in [(axes[0], x, "feature map x (crop of EDGES)"),
                                 (axes[1], relu(x), "relu(x): the negatives are 0")]:
                shown = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
                ax.set_title(title); ax.axis("off")
                fig.colorbar(shown, ax=ax, shrink=0.85)
            values = np.linspace(-lim, lim, 201)
            axes[2].plot(values, relu(values), color="black")
            axes[2].axvspan(-lim, 0, color="tab:blue", alpha=0.1)
            axes[2].text(-lim / 2, lim / 2, "x < 0: output 0", ha="center", color="tab:blue")
            axes[2].set_xlim(-lim, lim); axes[2].set_ylim(-lim, lim); axes[2].set_aspect("equal")
            axes[2].axhline(0, color="gray", lw=0.5); axes[2].set_xlabel("x"); axes[2].set_ylabel("relu(x)")
            axes[2].set_title("relu(x) = max(0, x)")
            plt.show()
        """)


def pooling_grids():
    """The slides' 4x4 example pooled three ways, each 2x2 window in its own colour, the erratum cell marked."""
    from reference.slides import by_id

    avg = by_id("avg-pool-4x4")
    (row, col), = np.argwhere(~np.isclose(avg.expected[0, 0], avg.slide[0, 0]))  # the one cell the slide got wrong
    return demo_code(f"""
        @picture
        def _():
            x = {nb.array_literal(avg.args[0][0, 0], 16)}   # deck 001's 4x4 example
            slide_avg = {nb.array_literal(avg.slide[0, 0], 24)}   # as the slide prints it
            colours = ["tab:red", "tab:blue", "tab:green", "tab:purple"]

            def number_grid(ax, a, title, block):
                \"\"\"The numbers of a; each block x block window tinted and outlined in its own colour.\"\"\"
                per_row = a.shape[1] // block
                for (r, c), v in np.ndenumerate(a):
                    colour = colours[(r // block) * per_row + c // block]
                    ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fc=colour, alpha=0.15, ec="lightgray"))
                    ax.text(c, r, f"{{v:g}}", ha="center", va="center", fontsize=14)
                for k, colour in enumerate(colours):     # drawn a little inside, so neighbours' edges both show
                    corner = ((k % per_row) * block - 0.45, (k // per_row) * block - 0.45)
                    ax.add_patch(plt.Rectangle(corner, block - 0.1, block - 0.1, fill=False, ec=colour, lw=3))
                ax.set_xlim(-0.5, a.shape[1] - 0.5); ax.set_ylim(a.shape[0] - 0.5, -0.5)
                ax.set_aspect("equal"); ax.set_xticks([]); ax.set_yticks([]); ax.set_title(title)

            batch = x[None, None]
            pooled = [("max_pool2d(x)", max_pool2d(batch)[0, 0]), ("avg_pool2d(x)", avg_pool2d(batch)[0, 0]),
                      ("sum_pool2d(x)", sum_pool2d(batch)[0, 0])]
            fig, axes = plt.subplots(1, 4, figsize=(12, 4.4), gridspec_kw={{"width_ratios": [2, 1, 1, 1]}},
                                     layout="constrained")
            number_grid(axes[0], x, "x: 2x2 windows, stride 2", 2)
            for ax, (title, out) in zip(axes[1:], pooled):
                number_grid(ax, out, title, 1)
            # The erratum: deck 001 prints 3.25 for the bottom-left (green) window.
            row, col = {row}, {col}
            axes[2].add_patch(plt.Rectangle((col - 0.35, row - 0.35), 0.7, 0.7, fill=False, ec="crimson", lw=2, ls="--"))
            axes[2].text(col, row + 0.3, f"slide: {{slide_avg[row, col]:g}}", ha="center", color="crimson")
            window = x[2 * row:2 * row + 2, 2 * col:2 * col + 2].ravel()
            axes[2].set_xlabel("erratum: (" + " + ".join(f"{{v:g}}" for v in window)
                               + f") / 4 = {{pooled[1][1][row, col]:g}}", color="crimson")
            plt.show()
        """)


def shift_tolerance() -> list:
    """Move the edge map one pixel and count the cells that keep their value, before and after pooling."""
    return [
        markdown("""
            ### A one-pixel shift, before and after pooling

            Move the photograph one pixel to the right and its edge map moves with it: almost every cell of the
            map now holds its left neighbour's value. What happens to the pooled map? The cell below compares,
            cell by cell, `EDGES` and `EDGES` moved one pixel to the right (the edge map before ReLU, so that
            cells are not equal just because both are 0), unpooled, max-pooled and average-pooled with windows
            of 2x2 to 16x16, and prints the **fraction of cells that keep their value** (equal within `1e-9`).
            The pictures show a crop: the two maps, and in black the cells that changed.
            """),
        demo_code("""
            @picture
            def _():
                x = EDGES[:, :, :, 1:]          # the edge map, without its first column ...
                moved = EDGES[:, :, :, :-1]     # ... and moved one pixel right: moved[..., j] = x[..., j - 1]

                def kept(a, b):
                    return np.isclose(a, b, rtol=0, atol=1e-9)

                table = [(k, kept(max_pool2d(x, k), max_pool2d(moved, k)).mean(),
                          kept(avg_pool2d(x, k), avg_pool2d(moved, k)).mean()) for k in (2, 4, 8, 16)]
                size, top, left = 4, 64, 0      # a 48x48 crop (a star of the flag), 12x12 after 4x4 pooling
                crop = np.s_[top:top + 48, left:left + 48]
                pooled_crop = np.s_[top // size:(top + 48) // size, left // size:(left + 48) // size]
                rows = [("", x, moved, crop),
                        (f"max_pool2d {size}x{size} of ", max_pool2d(x, size), max_pool2d(moved, size), pooled_crop)]
                lim = np.abs(x[0, 0][crop]).max()
                fig, axes = plt.subplots(2, 3, figsize=(12, 8.4), layout="constrained")
                for ax_row, (name, a, b, where) in zip(axes, rows):
                    same = kept(a, b)[0, 0]
                    for ax, m, title in [(ax_row[0], a, f"{name}x (crop)"),
                                         (ax_row[1], b, f"{name}x moved 1 px right (crop)")]:
                        ax.imshow(m[0, 0][where], cmap="RdBu_r", vmin=-lim, vmax=lim); ax.set_title(title)
                    ax_row[2].imshow(~same[where], cmap="Greys", vmin=0, vmax=1)
                    ax_row[2].set_title(f"black: changed, white: kept\\n(whole map: {same.mean():.0%} of cells kept)")
                    for ax in ax_row:
                        ax.set_xticks([]); ax.set_yticks([])
                plt.show()
                print(f"one-pixel shift, fraction of cells kept: unpooled {kept(x, moved).mean():.3f}")
                print("window   max_pool2d   avg_pool2d")
                for k, kept_max, kept_avg in table:
                    print(f"{k:2d}x{k:<2d}    {kept_max:10.3f}   {kept_avg:10.3f}")
            """),
        markdown("""
            Read the numbers: after the shift only a few percent of the edge map's cells keep their value. Max
            pooling keeps more of its cells, and more the larger its windows: a window's maximum keeps its value
            unless it sat in the column that leaves the window or a larger value enters. With 2x2
            windows that is only about a quarter of the cells, with 4x4 over half. Average pooling keeps almost
            none exactly: every window loses one column and gains another, so its mean moves a little. Pooling
            makes a network's maps *partly* tolerant to small shifts, not immune to them.
            """),
    ]
