"""The architecture zoo: torch models faithful to their papers.

Lectures: ``lectures/08_lenet.ipynb`` (LeNet-5), ``lectures/10_architectures.ipynb``
(AlexNet to MobileNetV2, SqueezeNet, ShuffleNet, ResNeXt, SE-ResNet, Xception and
Inception-ResNet), ``lectures/11_transfer_learning.ipynb`` (``ConvNet``, the
course's own backbone), ``lectures/12_beyond_classification.ipynb`` (FCN, U-Net
and, in the outlook, the graph convolution of :mod:`.graph`).

Every builder takes ``num_classes`` and ``in_channels``; every model checks its
input and names the shape it expects. ``build(name)`` builds the architectures that
the commands and the weight files refer to by name (:mod:`.registry`).
``REFERENCE`` collects the parameter and multiply-add counts of the papers and of
torchvision, which the tests check against the models as built (with
``cnn_course.analysis``).
"""

from . import alexnet as _alexnet_module
from . import densenet as _densenet_module
from . import googlenet as _googlenet_module
from . import inception_resnet as _inception_resnet_module
from . import lenet as _lenet_module
from . import mobilenet as _mobilenet_module
from . import resnet as _resnet_module
from . import resnext as _resnext_module
from . import senet as _senet_module
from . import shufflenet as _shufflenet_module
from . import squeezenet as _squeezenet_module
from . import unet as _unet_module
from . import vgg as _vgg_module
from . import xception as _xception_module
from .alexnet import AlexNet, alexnet
from .convnet import ConvBlock, ConvNet, convnet
from .densenet import (
    DenseBlock,
    DenseLayer,
    DenseNet,
    Transition,
    densenet121,
    densenet169,
    densenet201,
)
from .fcn import FCN, Backbone, bilinear_kernel, fcn
from .googlenet import (
    GoogLeNet,
    GoogLeNetOutputs,
    Inception,
    InceptionAux,
    InceptionNaive,
    googlenet,
)
from .graph import GCN, GraphConv, adjacency_from_edges, normalized_adjacency
from .highway import HighwayConv2d, HighwayLayer, HighwayNet, highway_net
from .inception_resnet import (
    InceptionResNet,
    InceptionResNetA,
    InceptionResNetB,
    InceptionResNetC,
    ReductionA,
    ReductionB,
    inception_resnet,
    inception_resnet_v1,
    inception_resnet_v2,
)
from .lenet import (
    LeNet5,
    LeNet5Modern,
    PartialConv2d,
    RBFOutput,
    ScaledTanh,
    Subsampling,
    lenet5,
)
from .mobilenet import InvertedResidual, MobileNetV2, mobilenet_v2
from .registry import build, canonical, names
from .resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    ResNetCifar,
    resnet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnet_cifar,
)
from .resnext import resnext50_32x4d
from .senet import SEBottleneck, SqueezeExcitation, se_resnet50
from .shufflenet import ShuffleNetV1, ShuffleUnit, channel_shuffle, shufflenet_v1
from .squeezenet import Fire, SqueezeNet, squeezenet, squeezenet1_0, squeezenet1_1
from .unet import UNet, unet, unet_output_size
from .vgg import VGG, cfgs, vgg, vgg11, vgg13, vgg16, vgg19
from .xception import SeparableConv2d, Xception, XceptionBlock, xception

#: Every model file's reference numbers in one dict, keyed by model name.
REFERENCE: dict[str, dict] = {
    **_lenet_module.REFERENCE,
    **_alexnet_module.REFERENCE,
    **_vgg_module.REFERENCE,
    **_googlenet_module.REFERENCE,
    **_resnet_module.REFERENCE,
    **_densenet_module.REFERENCE,
    **_mobilenet_module.REFERENCE,
    **_squeezenet_module.REFERENCE,
    **_shufflenet_module.REFERENCE,
    **_resnext_module.REFERENCE,
    **_senet_module.REFERENCE,
    **_xception_module.REFERENCE,
    **_inception_resnet_module.REFERENCE,
    **_unet_module.REFERENCE,
}

__all__ = [
    "REFERENCE", "build", "canonical", "names",
    "lenet5", "LeNet5", "LeNet5Modern", "ScaledTanh", "Subsampling", "PartialConv2d",
    "RBFOutput",
    "alexnet", "AlexNet",
    "vgg", "vgg11", "vgg13", "vgg16", "vgg19", "VGG", "cfgs",
    "googlenet", "GoogLeNet", "GoogLeNetOutputs", "Inception", "InceptionNaive",
    "InceptionAux",
    "resnet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "ResNet",
    "BasicBlock", "Bottleneck", "resnet_cifar", "ResNetCifar",
    "highway_net", "HighwayNet", "HighwayLayer", "HighwayConv2d",
    "densenet121", "densenet169", "densenet201", "DenseNet", "DenseBlock", "DenseLayer",
    "Transition",
    "mobilenet_v2", "MobileNetV2", "InvertedResidual",
    "squeezenet", "squeezenet1_0", "squeezenet1_1", "SqueezeNet", "Fire",
    "shufflenet_v1", "ShuffleNetV1", "ShuffleUnit", "channel_shuffle",
    "resnext50_32x4d",
    "se_resnet50", "SEBottleneck", "SqueezeExcitation",
    "xception", "Xception", "XceptionBlock", "SeparableConv2d",
    "inception_resnet", "inception_resnet_v1", "inception_resnet_v2",
    "InceptionResNet", "InceptionResNetA", "InceptionResNetB", "InceptionResNetC",
    "ReductionA", "ReductionB",
    "fcn", "FCN", "Backbone", "bilinear_kernel",
    "unet", "UNet", "unet_output_size",
    "convnet", "ConvNet", "ConvBlock",
    "GraphConv", "GCN", "normalized_adjacency", "adjacency_from_edges",
]
