"""ResNeXt (Xie, Girshick, Dollár, Tu and He, 2017): ResNeXt-50 32×4d.

Lecture: ``lectures/10_architectures.ipynb``.

"Split, transform, merge": a ResNeXt block is the sum of ``C`` (the cardinality)
identical narrow paths, each 1×1 down to ``d`` channels, 3×3, 1×1 back up. The
paper shows this equals one bottleneck whose 3×3 convolution is **grouped**: 32
groups of 4 channels (``32×4d``) side by side in a 128-wide 3×3 for the first
stage. So ResNeXt-50 is :class:`~.resnet.ResNet` with ``groups=32,
width_per_group=4``: each bottleneck twice as wide inside as ResNet-50's, at
about the same parameters and multiply-adds, and more accurate.

The stride of a downsampling block sits in the 3×3 convolution
(``layout="v1.5"``), as in the paper's code (fb.resnet.torch) and torchvision:
25,028,904 parameters (the paper's Table 1: 25.0 × 10⁶) and 4.23 G multiply-adds
at 224×224 (the paper: 4.2 × 10⁹ FLOPs; ResNet-50 in the same layout has 4.1).
"""

from __future__ import annotations

from .resnet import LAYERS, ResNet


def resnext50_32x4d(num_classes: int = 1000, in_channels: int = 3,
                    layout: str = "v1.5", stem: str = "imagenet",
                    zero_init_residual: bool = False) -> ResNet:
    """Build ResNeXt-50 (32×4d): ResNet-50's stages with 32-group 3×3 convolutions.

    ``x: (N, in_channels, H, W) -> logits (N, num_classes)``, ``H, W >= 32``.
    """
    block, layers = LAYERS[50]
    return ResNet(block, layers, num_classes, in_channels, layout, stem,
                  zero_init_residual, name="resnext50_32x4d", groups=32,
                  width_per_group=4)


#: Reference numbers (3×224×224 input, 1000 classes), checked by the tests against
#: the model as built: torchvision's num_params and GFLOPS, and the paper's Table 1
#: (parameters and FLOPs, which are multiply-adds, in the stated digits).
REFERENCE = {
    "resnext50_32x4d": {"params": 25_028_904, "macs": 4_230_479_872, "gmacs": "4.23",
                        "paper": {"params_millions": "25.0", "gflops": "4.2"}},
}
