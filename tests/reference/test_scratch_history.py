"""Does a layer's result depend on what ran before it? The conv paths keep scratch buffers between calls, some of
them zeroed once and relied on to stay zero where a call never writes: a buffer shared by layers laid out otherwise
(another kernel width, the same sizes) would carry one layer's data into the next one's gaps. Every algorithm, on
layers chosen to share buffer shapes, must give bit for bit what it gives with no history."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from reference import _autotune, _conv_impl, _conv_plan
from reference.conv import conv2d_backward, conv2d_forward

# (x shape, w shape, stride, pad): same batch, filters and padded width, other kernel widths and heights, so the
# buffers sized by (N, F, H', Wp) or by their products coincide while their layouts differ.
LAYERS = [((2, 3, 5, 6), (2, 3, 3, 3), 1, 0), ((2, 3, 5, 6), (2, 3, 3, 2), 1, 0), ((2, 3, 5, 6), (2, 3, 3, 1), 1, 0),
          ((2, 3, 5, 6), (2, 3, 1, 3), 1, 0), ((2, 3, 5, 6), (2, 3, 3, 3), 1, 1), ((2, 3, 6, 6), (2, 3, 3, 3), 2, 1),
          ((2, 3, 6, 6), (2, 3, 2, 3), 2, 1), ((2, 3, 7, 6), (2, 3, 3, 3), 2, 0)]


def _run(layer, seed):
    xs, ws, stride, pad = layer
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    out = conv2d_forward(x, w, b, stride=stride, pad=pad)
    dout = rng.standard_normal(out.shape)
    return [out.copy(), *(g.copy() for g in conv2d_backward(dout, x, w, stride=stride, pad=pad))]


def _fresh():
    _conv_impl._SCRATCH.__dict__.clear()


@pytest.mark.parametrize("algorithm", [None, *_conv_plan.KNOWN])
def test_no_result_depends_on_the_layers_before_it(algorithm):
    with _autotune.forced(algorithm):
        alone = []
        for i, layer in enumerate(LAYERS):
            _fresh()
            alone.append(_run(layer, i))
        for order in (LAYERS, LAYERS[::-1], [LAYERS[i] for i in (3, 0, 5, 1, 7, 2, 6, 4)]):
            for layer in itertools.chain(order, order):
                got = _run(layer, LAYERS.index(layer))
                for name, g, want in zip(("out", "dx", "dw", "db"), got, alone[LAYERS.index(layer)], strict=True):
                    assert np.array_equal(g, want), (algorithm, layer, name, float(np.max(np.abs(g - want))))
