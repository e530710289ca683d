"""cnn_course: the support library of a Jupyter course on convolutional networks.

Modules, in the order the lectures introduce them:

- ``cnn_course.device``: pick cuda, then mps, then cpu (every lecture).
- ``cnn_course.ops``: hand-written numpy layers, forward and backward (lectures 3-7).
- ``cnn_course.kernels``: the classic image kernels (lecture 03_convolution).
- ``cnn_course.similarity``: dot, cosine, Pearson, template matching (lecture 03).
- ``cnn_course.analysis``: parameter, multiply-add and receptive-field counts,
  summaries (lectures 04, 05, 08, 10).
- ``cnn_course.models``: LeNet-5 to U-Net, faithful to their papers, the course's
  ``ConvNet``, and ``build(name)`` for the named architectures (lectures 08-12).
- ``cnn_course.data``: datasets offline and online, ``load(name)`` for the named
  ones, and ``cnn_course.data.augment`` (lectures 02, 08-12).
- ``cnn_course.training``, ``cnn_course.plots``: the training loop, ``fit`` and
  their plots (08-11).
- ``cnn_course.transfer``: transfer learning and the shipped pretrained backbone (11).

The course machinery (commands, grading, the notebook runner, test-cell helpers) is
``cnn_course.course``: it uses the library; the library never imports it.
"""

__version__ = "0.1.0"
