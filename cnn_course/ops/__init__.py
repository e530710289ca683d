"""Hand-written numpy ops of the course, forward and backward.

Every layer follows the CS231n contract: ``<layer>_forward(x, ...) -> (out, cache)``
and ``<layer>_backward(dout, cache) -> grads``; the naive (loop) and fast
(vectorised) versions sit side by side with one signature, and the public name is
the fast one. Every public function rejects bad input with a ``ValueError`` that
says what was expected.

Modules, with the lecture that introduces them:

- ``signal``: single-channel correlation and convolution (03_convolution).
- ``pad``: zero, reflect and replicate padding (04_conv_layer, 07_backprop).
- ``conv``: conv2d, conv1d, transposed conv2d (04_conv_layer, 07_backprop,
  12_beyond_classification).
- ``pool``: max / average / global pooling, unpooling, upsampling (06_pooling,
  12_beyond_classification).
- ``activations``, ``layers``, ``losses``: ReLU, sigmoid, tanh, affine, dropout,
  softmax cross-entropy (01_fully_connected, 09_overfitting).
- ``norm``: batch normalisation and local response normalisation (09_overfitting).
- ``gradcheck``: numerical gradients (07_backprop).
- ``net``: a numpy fully connected network (01_fully_connected) and a tiny numpy
  CNN (08_lenet), trained on the digits.

``check_ndim`` and ``output_size`` are the input checks every op runs first; they are
public so that the other numpy modules (``cnn_course.kernels``,
``cnn_course.similarity``) reject bad input in the same words.
"""

from ._validate import check_ndim, output_size
from .activations import (
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from .conv import (
    conv1d_backward,
    conv1d_backward_fast,
    conv1d_backward_naive,
    conv1d_forward,
    conv1d_forward_fast,
    conv1d_forward_naive,
    conv2d_backward,
    conv2d_backward_fast,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_fast,
    conv2d_forward_naive,
    conv_transpose2d_backward,
    conv_transpose2d_backward_fast,
    conv_transpose2d_backward_naive,
    conv_transpose2d_forward,
    conv_transpose2d_forward_fast,
    conv_transpose2d_forward_naive,
)
from .gradcheck import gradcheck, numerical_gradient, rel_error
from .layers import (
    affine_backward,
    affine_forward,
    affine_forward_fast,
    affine_forward_naive,
    dropout_backward,
    dropout_forward,
)
from .losses import softmax, softmax_cross_entropy
from .norm import (
    batchnorm1d_backward,
    batchnorm1d_backward_fast,
    batchnorm1d_backward_naive,
    batchnorm1d_forward,
    batchnorm2d_backward,
    batchnorm2d_backward_fast,
    batchnorm2d_backward_naive,
    batchnorm2d_forward,
    local_response_norm_backward,
    local_response_norm_forward,
)
from .pad import PAD_MODES, pad2d, pad2d_backward
from .pool import (
    avgpool2d_backward,
    avgpool2d_backward_fast,
    avgpool2d_backward_naive,
    avgpool2d_forward,
    avgpool2d_forward_fast,
    avgpool2d_forward_naive,
    bed_of_nails_upsample2d,
    bed_of_nails_upsample2d_backward,
    bed_of_nails_upsample2d_forward,
    global_avgpool_backward,
    global_avgpool_forward,
    max_unpool2d,
    max_unpool2d_backward,
    max_unpool2d_forward,
    maxpool2d_backward,
    maxpool2d_backward_fast,
    maxpool2d_backward_naive,
    maxpool2d_forward,
    maxpool2d_forward_fast,
    maxpool2d_forward_naive,
    nearest_upsample2d,
    nearest_upsample2d_backward,
    nearest_upsample2d_forward,
)
from .signal import (
    convolve1d,
    convolve2d,
    correlate1d,
    correlate1d_fast,
    correlate1d_naive,
    correlate2d,
    correlate2d_fast,
    correlate2d_naive,
)

__all__ = [
    "output_size", "check_ndim",
    # signal
    "correlate1d", "correlate1d_naive", "correlate1d_fast",
    "correlate2d", "correlate2d_naive", "correlate2d_fast",
    "convolve1d", "convolve2d",
    # conv
    "PAD_MODES", "pad2d", "pad2d_backward",
    "conv2d_forward", "conv2d_forward_naive", "conv2d_forward_fast",
    "conv2d_backward", "conv2d_backward_naive", "conv2d_backward_fast",
    "conv1d_forward", "conv1d_forward_naive", "conv1d_forward_fast",
    "conv1d_backward", "conv1d_backward_naive", "conv1d_backward_fast",
    "conv_transpose2d_forward", "conv_transpose2d_forward_naive",
    "conv_transpose2d_forward_fast",
    "conv_transpose2d_backward", "conv_transpose2d_backward_naive",
    "conv_transpose2d_backward_fast",
    # pool
    "maxpool2d_forward", "maxpool2d_forward_naive", "maxpool2d_forward_fast",
    "maxpool2d_backward", "maxpool2d_backward_naive", "maxpool2d_backward_fast",
    "avgpool2d_forward", "avgpool2d_forward_naive", "avgpool2d_forward_fast",
    "avgpool2d_backward", "avgpool2d_backward_naive", "avgpool2d_backward_fast",
    "global_avgpool_forward", "global_avgpool_backward",
    "max_unpool2d", "max_unpool2d_forward", "max_unpool2d_backward",
    "nearest_upsample2d", "nearest_upsample2d_forward", "nearest_upsample2d_backward",
    "bed_of_nails_upsample2d", "bed_of_nails_upsample2d_forward",
    "bed_of_nails_upsample2d_backward",
    # norm
    "batchnorm2d_forward", "batchnorm2d_backward", "batchnorm2d_backward_naive",
    "batchnorm2d_backward_fast",
    "batchnorm1d_forward", "batchnorm1d_backward", "batchnorm1d_backward_naive",
    "batchnorm1d_backward_fast",
    "local_response_norm_forward", "local_response_norm_backward",
    # activations, layers, losses
    "relu_forward", "relu_backward", "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "affine_forward", "affine_forward_naive", "affine_forward_fast", "affine_backward",
    "dropout_forward", "dropout_backward",
    "softmax", "softmax_cross_entropy",
    # gradcheck
    "numerical_gradient", "rel_error", "gradcheck",
]
