"""cnn_course.ops.net: the tiny numpy CNN learns the digits, with no torch involved."""

from __future__ import annotations

import sys

import numpy as np

from cnn_course.ops import net as numpy_net


def test_full_training_run_reaches_95_percent_on_the_digits():
    """The issue's run: conv-relu-pool-conv-relu-pool-affine, SGD + momentum, at least
    95% test accuracy in well under a minute (it takes about a second)."""
    result = numpy_net.train_digits(numpy_net.TrainConfig(seed=0))
    assert result.test_accuracy >= 0.95, result
    assert result.seconds < 60, result
    assert result.losses[-1] < result.losses[0] / 10
    # conv 1->8 (80) + conv 8->16 (1168) + affine 64->10 (650)
    assert result.num_params == 80 + 1168 + 650


def test_short_run_with_another_seed_is_well_above_chance():
    """Two epochs on 400 examples already beat chance (10%) by far."""
    config = numpy_net.TrainConfig(num_epochs=2, max_train=400, seed=1)
    result = numpy_net.train_digits(config)
    assert result.test_accuracy > 0.6, result


def test_training_uses_no_torch():
    """The numpy stack never imports torch: run a step in a fresh interpreter."""
    import subprocess

    code = (
        "import sys\n"
        "from cnn_course.ops import net\n"
        "r = net.train_digits(net.TrainConfig(num_epochs=1, max_train=64))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(r.test_accuracy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_sgd_momentum_step_by_hand():
    """v = 0.9 v - lr g; w += v, twice, on one parameter; no decay on biases."""
    layer = numpy_net.Layer()
    layer.params = {"w": np.array([1.0]), "b": np.array([1.0])}
    layer.grads = {"w": np.array([0.5]), "b": np.array([0.5])}
    opt = numpy_net.SGDMomentum(numpy_net.Net([layer]), lr=0.1, momentum=0.9,
                                weight_decay=0.1)
    opt.step()
    opt.step()
    # w: g = 0.5 + 0.1 w; step 1: v = -0.06, w = 0.94; step 2: v = -0.054 - 0.0594
    assert np.isclose(layer.params["w"][0], 0.94 - 0.054 - 0.0594)
    # b: g = 0.5; v = -0.05, b = 0.95; v = -0.045 - 0.05, b = 0.855
    assert np.isclose(layer.params["b"][0], 0.855)
