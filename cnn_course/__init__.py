"""cnn_course: the support library of a Jupyter course on convolutional networks.

Modules, in the order the lectures introduce them:

- ``cnn_course.device``: pick cuda, then mps, then cpu (every lecture).
- ``cnn_course.ops``: hand-written numpy layers, forward and backward (lectures 3-7).
- ``cnn_course.kernels``: the classic image kernels (lecture 03_convolution).
- ``cnn_course.similarity``: dot, cosine, Pearson, template matching (lecture 03).
- ``cnn_course.models``: LeNet-5 to U-Net, faithful to their papers (lectures 08-12).
- ``cnn_course.inspect``: parameter, multiply-add and receptive-field counts, summaries.
- ``cnn_course.data``, ``cnn_course.augment``: datasets offline and online, augmentations.
- ``cnn_course.train``, ``cnn_course.plots``: the training loop and its plots (08-11).
- ``cnn_course.transfer``: transfer learning and the shipped pretrained backbone (11).
- ``cnn_course.course.grading``: release, grade and self-check of nbgrader assignments.
"""

__version__ = "0.1.0"
