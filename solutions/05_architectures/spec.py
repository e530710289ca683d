"""Assignment 05_architectures: its checks, points and rules (instructor side: never released).

References come from the library, the course's own implementations of what students
write: ``cnn_course.models`` (the Inception module, the ResNet blocks, ResNet-18 and,
for Part 5, the CIFAR ResNet's basic block with and without its shortcut) and
``cnn_course.analysis`` (``count_params``, ``count_macs``, ``receptive_field``).

Module checks load the grader's weights into the student's module by the names the
notebook fixes (``load_state_dict(strict=True)``) and compare outputs in float64.
The weights are made from a seed, by :data:`~cnn_course.course.spec.weights.GRADER_WEIGHTS`, the same code on both sides, so
that ResNet-18's 11.7 M numbers never travel. Hidden cases draw random shapes (odd
sizes, N = 1, non-square maps) and never reuse an input that students see. Part 5's
experiment runs on 512 CIFAR-10 images that the grader draws in every session.
"""

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnn_course import analysis
from cnn_course.course.spec import SOLUTION, Assignment, Example, Limits, Part, Test, run
from cnn_course.course.spec.weights import GRADER_WEIGHTS as WEIGHTS
from cnn_course.course.spec.weights import NAMES, NAMES_HINT, PARAMS, grader_weights
from cnn_course.models.googlenet import Inception as ReferenceInception
from cnn_course.models.resnet import BasicBlock as ReferenceBasicBlock
from cnn_course.models.resnet import Bottleneck as ReferenceBottleneck
from cnn_course.models.resnet import CifarBasicBlock, conv1x1, conv3x3, resnet

EXPERIMENT_CPU = 90  # CPU seconds for Part 5's experiment (stated in the notebook)
EXPERIMENT_IMAGES = 512
EXPERIMENT_BLOCKS = 8
EXPERIMENT_EPOCHS = 4
INCEPTION_3A = (192, 64, 96, 128, 16, 32, 32)
INCEPTION_4E = (528, 256, 160, 320, 32, 128, 128)
RESNET18_PARAMS = 11_689_512


# --- the grader's weights: the same code here and in the checks --------------------------



def _entries(model: nn.Module, rename: dict[str, str] | None = None) -> list:
    """[(name, shape, kind), ...] of model's state dict, names as the notebook fixes them."""
    kinds = {}
    for prefix, module in model.named_modules():
        dot = f"{prefix}." if prefix else ""
        bn = isinstance(module, nn.modules.batchnorm._BatchNorm)
        for name, p in module.named_parameters(recurse=False):
            kinds[dot + name] = ("gamma" if bn and name == "weight" else
                                 "beta" if bn else name if name == "weight" else "bias")
        for name, b in module.named_buffers(recurse=False):
            kinds[dot + name] = {"running_mean": "mean", "running_var": "var",
                                 "num_batches_tracked": "count"}[name]
    out = []
    for name, tensor in model.state_dict().items():
        out.append((_renamed(name, rename or {}), list(tensor.shape), kinds[name]))
    return out


def _renamed(name: str, rename: dict[str, str]) -> str:
    for old, new in rename.items():
        if name.startswith(old + "."):
            return new + name[len(old):]
    return name


def _load(model: nn.Module, entries: list, seed: int, rename: dict[str, str] | None = None
          ) -> nn.Module:
    """model (float64) with the grader's weights, names mapped back to the library's."""
    state = grader_weights(entries, seed)
    back = {v: k for k, v in (rename or {}).items()}
    model.double().load_state_dict({_renamed(k, back): v for k, v in state.items()},
                                    strict=True)
    return model


def _forward(model: nn.Module, x: np.ndarray, mode: str) -> np.ndarray:
    model.train(mode == "train")
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# What a module check runs: build, load the grader's weights by name, run in float64.
MODULE = WEIGHTS + '''
previous = torch.get_default_dtype()
torch.set_default_dtype(torch.float64)  # the module in float64, the default restored after
try:
    model = eval(build)
    model.load_state_dict(grader_weights(entries, seed), strict=True)
    model.train(mode == "train")
    with torch.no_grad():
        result = model(torch.from_numpy(x)).numpy()
finally:
    torch.set_default_dtype(previous)
'''


def _module_case(build: str, reference: nn.Module, x: np.ndarray, seed: int, mode: str,
                 label: str, rename: dict | None = None, **options):
    entries = _entries(reference, rename)
    expected = _forward(_load(reference, entries, seed, rename), x, mode)
    return run(MODULE, {"build": build, "entries": entries, "seed": seed, "x": x,
                        "mode": mode}, expect=expected, label=label, **options)


def _names_case(build: str, reference: nn.Module, label: str,
                rename: dict | None = None):
    expected = sorted([name, shape] for name, shape, _ in _entries(reference, rename))
    return run(NAMES, {"build": build}, expect=expected, label=label, hint=NAMES_HINT)


def _params_case(build: str, count: int, label: str, **options):
    return run(PARAMS, {"build": build}, expect=count, rtol=0, atol=0, exact_type="int",
               label=label, **options)


# --- part 1: Inception ---------------------------------------------------------------------

INCEPTION_NAMES = {"branch1.conv": "conv1x1", "branch2.0.conv": "reduce3x3",
                   "branch2.1.conv": "conv3x3", "branch3.0.conv": "reduce5x5",
                   "branch3.1.conv": "conv5x5", "branch4.1.conv": "pool_proj"}
CONCAT_HINT = "concatenate the four branches along the channels, in the order 1x1, " \
              "3x3, 5x5, pool proj, each after its ReLU"


def _inception(config) -> nn.Module:
    return ReferenceInception(*config, batch_norm=False, kernel5=5)


def _inception_case(config, x, seed, label, **options):
    build = f"Inception{tuple(config)}"
    return _module_case(build, _inception(config), x, seed, "eval", label,
                        INCEPTION_NAMES, **options)


def inception_visible(rng):
    reference = _inception(INCEPTION_3A)
    yield _names_case("Inception(192, 64, 96, 128, 16, 32, 32)", reference,
                      "module 3a: the names and shapes of its weights",
                      rename=INCEPTION_NAMES)
    yield _params_case("Inception(192, 64, 96, 128, 16, 32, 32)",
                       analysis.count_params(reference).total,
                       "module 3a: 163,696 parameters",
                       hint="six convolutions with biases: 1x1, 1x1 then 3x3, 1x1 then "
                            "5x5, and the 1x1 after the pooling")
    small = (5, 3, 2, 4, 2, 3, 2)
    x = rng.normal(size=(2, 5, 6, 6))
    yield _inception_case(small, x, 1, "Inception(5, 3, 2, 4, 2, 3, 2) on x (2, 5, 6, 6)",
                          hint=CONCAT_HINT + "; the pooling is 3x3 with stride 1 and "
                          "padding 1", shape_hints=[((2, 12, 6, 6), CONCAT_HINT)])
    x = rng.normal(size=(1, 192, 7, 7))
    yield _inception_case(INCEPTION_3A, x, 2, "module 3a on x (1, 192, 7, 7)",
                          hint=CONCAT_HINT)


def inception_hidden(rng):
    for config, channels in ((INCEPTION_3A, 192), (INCEPTION_4E, 528)):
        H, W = (int(v) for v in rng.integers(3, 10, size=2))
        x = rng.normal(size=(1, channels, H, W))
        yield _inception_case(config, x, int(rng.integers(10**6)),
                              f"module {'3a' if channels == 192 else '4e'} on x "
                              f"{x.shape}")
    for _ in range(3):
        config = tuple(int(v) for v in rng.integers(1, 9, size=7))
        N, H, W = int(rng.integers(1, 4)), *(int(v) for v in rng.integers(1, 9, size=2))
        x = rng.normal(size=(N, config[0], H, W))
        yield _inception_case(config, x, int(rng.integers(10**6)),
                              f"Inception{config} on x {x.shape}")


# --- part 2: residual blocks and ResNet-18 -----------------------------------------------

STRIDE_HINT = "the bottleneck's stride sits in conv1, the first 1x1 (the paper's layout)"
SHORTCUT_HINT = "out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), the " \
                "shortcut a projection (1x1 conv with the stride, then batch norm) only " \
                "where the shape changes"


def _block(kind: str, inplanes: int, planes: int, stride: int) -> nn.Module:
    cls = ReferenceBasicBlock if kind == "BasicBlock" else ReferenceBottleneck
    out = planes * cls.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(conv1x1(inplanes, out, stride),
                                   nn.BatchNorm2d(out))
    return cls(inplanes, planes, stride, downsample, layout="v1")


def _block_case(kind, inplanes, planes, stride, x, seed, mode, label=None, **options):
    build = f"{kind}({inplanes}, {planes}, stride={stride})"
    return _module_case(build, _block(kind, inplanes, planes, stride), x, seed, mode,
                        label or f"{build} on x {x.shape}, {mode} mode", **options)


def _resnet18(num_classes: int) -> nn.Module:
    return resnet(18, num_classes=num_classes, layout="v1")


def resnet_visible(rng):
    x = rng.normal(size=(2, 8, 5, 6))
    yield _block_case("BasicBlock", 8, 8, 1, x, 3, "eval",
                      hint="identity shortcut: " + SHORTCUT_HINT)
    yield _names_case("BasicBlock(8, 16, stride=2)", _block("BasicBlock", 8, 16, 2),
                      "BasicBlock(8, 16, stride=2): conv1, bn1, conv2, bn2 and the "
                      "projection downsample.0 (conv), downsample.1 (batch norm)")
    yield _block_case("BasicBlock", 8, 16, 2, x, 4, "eval", hint=SHORTCUT_HINT,
                      shape_hints=[((2, 16, 5, 6), "did you apply the stride?")])
    x = rng.normal(size=(2, 16, 5, 5))
    yield _block_case("Bottleneck", 16, 4, 1, x, 5, "eval",
                      hint="4 * planes = inplanes: the shortcut is the identity")
    yield _block_case("Bottleneck", 16, 8, 2, x, 6, "eval", hint=STRIDE_HINT)
    reference = _resnet18(1000)
    yield _params_case("ResNet18()", RESNET18_PARAMS,
                       "ResNet18(): 11,689,512 parameters (torchvision's resnet18)",
                       hint="four stages of two BasicBlocks, 64, 128, 256, 512 channels")
    yield _names_case("ResNet18()", reference, "ResNet18(): torchvision's names")
    x = rng.normal(size=(1, 3, 32, 32))
    yield _module_case("ResNet18(num_classes=10)", _resnet18(10), x, 7, "eval",
                       "ResNet18(num_classes=10) on x (1, 3, 32, 32), eval mode")


def blocks_hidden(rng):
    shapes = [("BasicBlock", 1), ("BasicBlock", 2), ("Bottleneck", 1), ("Bottleneck", 2)]
    for kind, stride in shapes * 2:
        planes = int(rng.integers(1, 7))
        out = planes * (4 if kind == "Bottleneck" else 1)
        inplanes = out if stride == 1 and rng.random() < 0.5 else int(rng.integers(1, 13))
        N, H, W = int(rng.integers(1, 4)), *(int(v) for v in rng.integers(3, 10, size=2))
        mode = str(rng.choice(["eval", "train"])) if N * H * W > 1 else "eval"
        x = rng.normal(size=(N, inplanes, H, W))
        yield _block_case(kind, inplanes, planes, stride, x, int(rng.integers(10**6)), mode)


def resnet18_hidden(rng):
    num_classes = int(rng.integers(2, 20))
    H, W = (int(v) for v in rng.integers(32, 48, size=2))
    x = rng.normal(size=(2, 3, H, W))
    yield _module_case(f"ResNet18(num_classes={num_classes})", _resnet18(num_classes), x,
                       int(rng.integers(10**6)), "eval",
                       f"ResNet18(num_classes={num_classes}) on x {x.shape}, eval mode")
    x = rng.normal(size=(3, 3, 33, 37))
    yield _module_case("ResNet18(num_classes=5)", _resnet18(5), x,
                       int(rng.integers(10**6)), "train",
                       "ResNet18(num_classes=5) on x (3, 3, 33, 37), train mode")


# --- part 3: counting -----------------------------------------------------------------------

# Models built from a description, the same code here and in the checks. Each entry
# is one layer: ("conv", c_in, c_out, k, stride, pad, dilation, groups, bias),
# ("linear", in, out, bias), ("relu",), ("maxpool", k), ("bn", c), ("flatten",),
# ("tokens",) (N, C, H, W) -> (N, H*W, C), ("mix", d) a matmul that is no layer,
# ("twice", c) one 3x3 convolution called twice, ("frozen", c_in, c_out) a frozen 1x1.
MODELS = '''
class Tokens(nn.Module):
    def forward(self, x):
        return x.flatten(2).transpose(1, 2)  # (N, H*W, C)


class Mix(nn.Module):
    """A product with a weight matrix that is not an nn.Linear: not counted."""

    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.linspace(-1, 1, d * d).reshape(d, d))

    def forward(self, x):
        return x @ self.weight


class Twice(nn.Module):
    """One convolution used twice: its weights count once, its multiply-adds twice."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(torch.relu(self.conv(x)))


def build_model(layers):
    made = []
    for kind, *a in layers:
        if kind == "conv":
            made.append(nn.Conv2d(a[0], a[1], a[2], stride=a[3], padding=a[4],
                                  dilation=a[5], groups=a[6], bias=bool(a[7])))
        elif kind == "linear":
            made.append(nn.Linear(a[0], a[1], bias=bool(a[2])))
        elif kind == "relu":
            made.append(nn.ReLU())
        elif kind == "maxpool":
            made.append(nn.MaxPool2d(a[0]))
        elif kind == "bn":
            made.append(nn.BatchNorm2d(a[0]))
        elif kind == "flatten":
            made.append(nn.Flatten())
        elif kind == "tokens":
            made.append(Tokens())
        elif kind == "mix":
            made.append(Mix(a[0]))
        elif kind == "twice":
            made.append(Twice(a[0]))
        elif kind == "frozen":
            frozen = nn.Conv2d(a[0], a[1], 1)
            frozen.requires_grad_(False)
            made.append(frozen)
    return nn.Sequential(*made)
'''
COUNT = MODELS + '''
model = build_model(layers)
result = {"params": count_params(model), "macs": count_macs(model, input_size)}
'''
COUNT_ONE = MODELS + '''
model = build_model(layers)
result = {"params": count_params, "macs": count_macs}[which](
    *((model,) if which == "params" else (model, input_size)))
'''

_models_scope: dict = {"nn": nn, "torch": torch}
exec(MODELS, _models_scope)  # noqa: S102
build_model = _models_scope["build_model"]

MACS_HINT = "conv: output.numel() * (in_channels // groups) * kh * kw; linear: " \
            "output.numel() * in_features, for every call of the layer"


def _counts(layers, input_size) -> dict:
    model = build_model(layers)
    return {"params": int(analysis.count_params(model).total),
            "macs": int(analysis.count_macs(model, input_size))}


def _count_case(layers, input_size, label, **options):
    return run(COUNT, {"layers": layers, "input_size": tuple(input_size)},
               expect=_counts(layers, input_size), rtol=0, atol=0, label=label, **options)


def _one_count_case(which, layers, input_size, expected, label, **options):
    return run(COUNT_ONE, {"layers": layers, "input_size": tuple(input_size),
                           "which": which},
               expect=expected, rtol=0, atol=0, exact_type="int", label=label, **options)


NAIVE = [("conv", 480, 48, 5, 1, 2, 1, 1, 0)]
REDUCED = [("conv", 480, 16, 1, 1, 0, 1, 1, 0), ("relu",), ("conv", 16, 48, 5, 1, 2, 1, 1, 0)]


def counting_visible(rng):
    size = (1, 480, 14, 14)
    yield _one_count_case("params", NAIVE, size, 576_000,
                          "5x5x48 on 14x14x480: 576,000 weights",
                          hint="count every nn.Parameter's numel() once")
    yield _one_count_case("macs", NAIVE, size, 112_896_000,
                          "5x5x48 on 14x14x480: 112.9 M multiply-adds", hint=MACS_HINT)
    yield _one_count_case("params", REDUCED, size, 26_880,
                          "a 16-channel 1x1 first: 26,880 weights")
    yield _one_count_case("macs", REDUCED, size, 5_268_480,
                          "a 16-channel 1x1 first: 5.3 M multiply-adds", hint=MACS_HINT)
    lecture = [("conv", 64, 128, 3, 1, 1, 1, 1, 1)]
    yield _count_case(lecture, (1, 64, 56, 56), "the lecture's 3x3 conv, 64 -> 128 on "
                      "56x56, with bias: 73,856 parameters, 231.2 M multiply-adds",
                      hint="the bias is a parameter, but its additions are not counted")
    small = [("conv", 3, 8, 3, 2, 1, 1, 1, 1), ("bn", 8), ("relu",), ("twice", 8),
             ("maxpool", 2), ("flatten",), ("linear", 8 * 4 * 4, 10, 1)]
    yield _count_case(small, (2, 3, 16, 16), "a small CNN on a batch of 2, with one "
                      "convolution called twice",
                      hint="batch norm's running averages are buffers, not parameters; "
                           "a layer called twice costs twice")


def _random_layers(rng):
    """A random stack and its input size; every kind of layer the counters must handle."""
    C = int(rng.integers(1, 6))
    H, W = (int(v) for v in rng.integers(9, 20, size=2))
    size = (int(rng.integers(1, 4)), C, H, W)
    layers = []
    for _ in range(int(rng.integers(1, 4))):
        k, stride, dil = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
        groups = int(rng.choice([1, C])) if rng.random() < 0.5 else 1
        out = groups * int(rng.integers(1, 4))
        if H + 2 - dil * (k - 1) - 1 < 0 or W + 2 - dil * (k - 1) - 1 < 0:
            continue
        layers.append(("conv", C, out, k, stride, 1, dil, groups, int(rng.random() < 0.5)))
        H = (H + 2 - dil * (k - 1) - 1) // stride + 1
        W = (W + 2 - dil * (k - 1) - 1) // stride + 1
        C = out
        extra = rng.choice(["relu", "bn", "twice", "frozen", "none"])
        if extra == "relu":
            layers.append(("relu",))
        elif extra == "bn":
            layers.append(("bn", C))
        elif extra == "twice":
            layers.append(("twice", C))
        elif extra == "frozen":
            layers.append(("frozen", C, C + 1))
            C += 1
    if rng.random() < 0.5:  # a linear layer on every position, then a matmul
        d = int(rng.integers(2, 6))
        layers += [("tokens",), ("linear", C, d, 1), ("mix", d)]
    else:
        layers += [("flatten",), ("linear", C * H * W, int(rng.integers(2, 11)), 0)]
    return layers, size


def counting_hidden(rng):
    for _ in range(6):
        layers, size = _random_layers(rng)
        yield _count_case(layers, size, f"a random model of {len(layers)} layers on an "
                          f"input {size}")


# --- part 4: receptive field ----------------------------------------------------------------

RF = "result = receptive_field(layers)"


def _rf_reference(layers) -> list[int]:
    """Field sizes after each layer, by the library on a stack of 1-D convolutions."""
    convs = [nn.Conv1d(1, 1, k, stride=s, dilation=d) for k, s, d in layers]
    length, jump = 1, 1
    for k, s, d in layers:  # long enough for every layer to fit
        length += d * (k - 1) * jump + s * jump
        jump *= s
    table = analysis.receptive_field(convs, (1, 1, length))
    return [int(table.row(str(i)).size[0]) for i in range(len(layers))]


def _rf_case(layers, label, **options):
    layers = [tuple(int(v) for v in layer) for layer in layers]
    return run(RF, {"layers": layers}, expect=_rf_reference(layers), rtol=0, atol=0,
               label=label, **options)


def receptive_field_visible(rng):
    yield _rf_case([(3, 1, 1)] * 3, "three 3x3 convolutions: 3, 5, 7",
                   hint="each stride-1 layer adds kernel - 1")
    yield _rf_case([(5, 1, 1)] * 3, "three 5x5 convolutions: 5, 9, 13",
                   hint="each stride-1 layer adds kernel - 1")
    yield _rf_case([(3, 1, 1), (2, 2, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1)],
                   "3x3 conv, 2x2 pool, 3x3 conv, 2x2 pool, 3x3 conv: 3, 4, 8, 10, 18",
                   hint="after a stride s, neighbouring units are jump * s pixels apart")
    yield _rf_case([(3, 1, 1), (3, 1, 2), (3, 1, 4)],
                   "3x3 convolutions with dilation 1, 2, 4: 3, 7, 15",
                   hint="a dilated kernel spans d * (k - 1) + 1 units")


def receptive_field_hidden(rng):
    for _ in range(8):
        n = int(rng.integers(1, 7))
        layers = [(int(rng.integers(1, 8)), int(rng.integers(1, 4)), int(rng.integers(1, 4)))
                  for _ in range(n)]
        yield _rf_case(layers, f"the stack {layers}")


# --- part 5: plain against residual ----------------------------------------------------------

class _SmallResNet(nn.Module):
    """The reference: the library's CIFAR basic block, with or without its shortcut."""

    def __init__(self, num_blocks, residual=True, width=16, num_classes=10):
        super().__init__()
        self.conv1 = conv3x3(3, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = nn.Sequential(*[CifarBasicBlock(width, width, shortcut=residual)
                                      for _ in range(num_blocks)])
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.layer1(F.relu(self.bn1(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


SAME_PARAMS = '''
plain, residual = SmallResNet(blocks, residual=False), SmallResNet(blocks, residual=True)
result = [sum(p.numel() for p in net.parameters()) for net in (plain, residual)]
'''
RETURNS = '''
torch.manual_seed(0)
out = plain_vs_residual(torch.from_numpy(images), torch.from_numpy(labels), num_blocks=2,
                        epochs=1)
result = [float(v) for v in out]
'''
EXPERIMENT = '''
import math
torch.set_num_threads(1)
x, y = torch.from_numpy(images), torch.from_numpy(labels)
nets, curves, final = {}, {}, {}
for residual in (False, True):
    torch.manual_seed(seed)
    nets[residual] = SmallResNet(blocks, residual=residual)
for residual, net in nets.items():
    curves[residual] = [float(v) for v in train_briefly(net, x, y, epochs=epochs,
                                                        batch_size=64, lr=0.05, seed=seed)]
    net.train()  # the training loss of the trained network, measured here
    with torch.no_grad():
        final[residual] = float(F.cross_entropy(net(x), y))
counts = [sum(p.numel() for p in net.parameters()) for net in nets.values()]
result = {
    "the two networks have the same parameters": counts[0] == counts[1],
    "train_briefly returns one finite loss per epoch": all(
        len(c) == epochs and all(math.isfinite(v) for v in c) for c in curves.values()),
    "the residual network ends with the lower training loss": final[True] < final[False],
}
'''
EXPERIMENT_EXPECT = {
    "the two networks have the same parameters": True,
    "train_briefly returns one finite loss per epoch": True,
    "the residual network ends with the lower training loss": True,
}
def _small_case(blocks, residual, width, x, seed, mode, label, **options):
    build = f"SmallResNet({blocks}, residual={residual}, width={width})"
    return _module_case(build, _SmallResNet(blocks, residual, width), x, seed, mode, label,
                        **options)


@lru_cache(maxsize=1)
def _cifar():
    """CIFAR-10's test split as uint8 (N, 3, 32, 32) and int64 labels."""
    from cnn_course.data.cifar import cifar10

    split = cifar10("test")
    return split.images.numpy(), split.labels.numpy().astype(np.int64)


def _slice(rng, n):
    """n random CIFAR-10 images, 2x2-averaged to 16x16 and standardised per channel."""
    images, labels = _cifar()
    pick = rng.choice(len(images), size=n, replace=False)
    x = images[pick].astype(np.float32) / 255
    x = x.reshape(n, 3, 16, 2, 16, 2).mean(axis=(3, 5))  # (n, 3, 16, 16)
    x = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / x.std(axis=(0, 2, 3), keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32), labels[pick]


def small_resnet_visible(rng):
    x = rng.normal(size=(2, 3, 6, 5))
    yield _small_case(2, True, 4, x, 8, "eval", "SmallResNet(2, residual=True, width=4) "
                      "on x (2, 3, 6, 5), eval mode",
                      hint="a residual block adds its input before its last ReLU")
    yield _small_case(2, False, 4, x, 9, "train", "SmallResNet(2, residual=False, width=4) "
                      "on x (2, 3, 6, 5), train mode",
                      hint="a plain block is the same block without the + x")
    count = analysis.count_params(_SmallResNet(3)).total
    yield run(SAME_PARAMS, {"blocks": 3}, expect=[count, count], rtol=0, atol=0,
              label=f"SmallResNet(3), plain and residual: the same {count:,} parameters",
              hint="the shortcut adds no parameters")
    images = rng.normal(size=(64, 3, 8, 8)).astype(np.float32)  # noise: a format check
    labels = rng.integers(0, 10, size=64)
    yield run(RETURNS, {"images": images, "labels": labels}, expect=[1.5, 1.5], rtol=0,
              atol=1.5, label="plain_vs_residual on 64 noise images, 2 blocks, 1 epoch: "
              "two losses between 0 and 3",
              hint="return (plain_loss, residual_loss), the last epoch's mean losses")


def small_resnet_hidden(rng):
    for residual in (True, False):
        blocks, width = int(rng.integers(1, 4)), int(rng.integers(1, 6))
        N, H, W = int(rng.integers(1, 4)), *(int(v) for v in rng.integers(2, 8, size=2))
        x = rng.normal(size=(N, 3, H, W))
        mode = "train" if N * H * W > 1 and rng.random() < 0.5 else "eval"
        yield _small_case(blocks, residual, width, x, int(rng.integers(10**6)), mode,
                          f"SmallResNet({blocks}, residual={residual}, width={width}) on "
                          f"x {x.shape}, {mode} mode")


def experiment_hidden(rng):
    images, labels = _slice(rng, EXPERIMENT_IMAGES)
    yield run(EXPERIMENT, {"images": images, "labels": labels, "blocks": EXPERIMENT_BLOCKS,
                           "epochs": EXPERIMENT_EPOCHS, "seed": int(rng.integers(1000))},
              expect=EXPERIMENT_EXPECT, cpu_seconds=EXPERIMENT_CPU,
              label=f"{EXPERIMENT_IMAGES} CIFAR-10 images drawn for this session, "
                    f"{EXPERIMENT_BLOCKS} blocks, {EXPERIMENT_EPOCHS} epochs",
              hint="train both networks the same way, as the notebook says")


SPEC = Assignment(
    name="05_architectures",
    title="Inception, ResNet, counting and the receptive field",
    lectures=("05_receptive_field", "10_architectures"),
    allow=("numpy", "torch", "matplotlib"),
    forbid=("cnn_course", "torchvision", "torchinfo", "thop", "fvcore"),
    rtol=1e-5,
    atol=1e-5,
    tolerance_note="the checks run your modules in float64",
    limits=Limits(call_cpu=20, cell_cpu=30),
    seed=20261216,
    parts=[
        Part("inception", "`Inception`: the module with 1×1 reductions", ("inception",), [
            Test("inception_visible", 1, "Inception: names, 3a's parameters, outputs "
                 "under the grader's weights.", inception_visible),
            Test("inception_hidden", 2, "Inception against the reference for modules 3a, "
                 "4e and random configurations.", inception_hidden, hidden=True),
        ]),
        Part("resnet", "`BasicBlock`, `Bottleneck`, `ResNet18`",
             ("basic_block", "bottleneck", "resnet18"), [
            Test("resnet_visible", 2, "Blocks and ResNet-18: names, 11,689,512 "
                 "parameters, outputs under the grader's weights.", resnet_visible),
            Test("blocks_hidden", 2, "BasicBlock and Bottleneck against the reference: "
                 "random widths, strides and shapes, train and eval mode.", blocks_hidden,
                 hidden=True),
            Test("resnet18_hidden", 1, "ResNet18 against the reference on random inputs "
                 "and numbers of classes.", resnet18_hidden, hidden=True),
        ]),
        Part("counting", "`count_params`, `count_macs`: counting with forward hooks",
             ("count_params", "count_macs"), [
            Test("counting_visible", 1, "The decks' Inception arithmetic and two small "
                 "models.", counting_visible),
            Test("counting_hidden", 2, "count_params and count_macs against the course's "
                 "counters on random models.", counting_hidden, hidden=True),
        ]),
        Part("receptive_field", "`receptive_field`: a stack's field, layer by layer",
             ("receptive_field",), [
            Test("receptive_field_visible", 1, "receptive_field: 3-5-7, 5-9-13, pooling "
                 "and dilation.", receptive_field_visible),
            Test("receptive_field_hidden", 1, "receptive_field against the course's "
                 "analysis on random stacks.", receptive_field_hidden, hidden=True),
        ]),
        Part("plain_vs_residual", "`SmallResNet`, `train_briefly`, `plain_vs_residual`: "
             "a plain against a residual network",
             ("small_block", "small_resnet", "train_briefly", "plain_vs_residual"), [
            Test("small_resnet_visible", 1, "SmallResNet's outputs, plain and residual; "
                 "plain_vs_residual returns two losses.", small_resnet_visible),
            Test("small_resnet_hidden", 1, "SmallResNet against the reference on random "
                 "shapes.", small_resnet_hidden, hidden=True),
            Test("experiment_hidden", 2, "The grader's run: the residual network trains "
                 "better, on CIFAR-10 images drawn for this session.", experiment_hidden,
                 hidden=True, fresh=True),
        ]),
    ],
)


# --- example submissions ----------------------------------------------------------------

_BOTTLENECK_STRIDE_IN_3X3 = '''class Bottleneck(nn.Module):
    """torchvision's layout: the stride in the 3x3 convolution (not the paper's)."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        width = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.downsample = None
        if stride != 1 or inplanes != width:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, width, 1, stride=stride, bias=False),
                nn.BatchNorm2d(width))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + identity)
'''

_MACS_PER_IMAGE = '''def count_macs(model, input_size):
    """Hooks, but the cost of one image: weights times output positions."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += module.weight.numel() * output.shape[-2] * output.shape[-1]
        else:
            total += module.weight.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(input_size))
    for handle in handles:
        handle.remove()
    return total
'''

_RF_WITHOUT_JUMP = '''def receptive_field(layers):
    """Adds d * (k - 1) per layer, forgetting that strides spread the units apart."""
    size, sizes = 1, []
    for kernel, stride, dilation in layers:
        size += dilation * (kernel - 1)
        sizes.append(size)
    return sizes
'''

_COUNT_PARAMS_TORCHINFO = '''from torchinfo import summary


def count_params(model):
    """torchinfo's count (not allowed here)."""
    return summary(model, verbose=0).total_params
'''

_COUNT_MACS_TORCHINFO = '''def count_macs(model, input_size):
    """torchinfo's count (not allowed here)."""
    return summary(model, input_size=input_size, verbose=0).total_mult_adds
'''

_FIRST_FOUR = {a: SOLUTION for p in SPEC.parts[:4] for a in p.answers}

SPEC.examples = [
    Example("full_solution", "every part right: full marks", 17),
    Example("blank", "the release as handed out: 0", 0, answers={}),
    Example("partly_correct", "Inception, the counters and the receptive field only: "
            "partial credit", 8,
            answers={a: SOLUTION for a in ("inception", "count_params", "count_macs",
                                           "receptive_field")}),
    Example("bottleneck_stride_in_3x3", "parts 1 to 4, the bottleneck's stride in its "
            "3x3 (torchvision's layout): the block checks fail, ResNet-18 (basic blocks) "
            "passes", 9, answers={**_FIRST_FOUR, "bottleneck": _BOTTLENECK_STRIDE_IN_3X3},
            reason="the bottleneck's stride sits in conv1"),
    Example("macs_per_image", "parts 1 to 4, count_macs counts one image's weights "
            "times positions: the counting part earns nothing", 10,
            answers={**_FIRST_FOUR, "count_macs": _MACS_PER_IMAGE},
            reason="counting_visible"),
    Example("rf_without_jump", "parts 1 to 4, the receptive field ignores the strides: "
            "part 4 earns nothing", 11,
            answers={**_FIRST_FOUR, "receptive_field": _RF_WITHOUT_JUMP},
            reason="jump * s pixels apart"),
    Example("uses_torchinfo", "parts 1 to 4, the counters by torchinfo: part 3 earns "
            "nothing", 10,
            answers={**_FIRST_FOUR, "count_params": _COUNT_PARAMS_TORCHINFO,
                     "count_macs": _COUNT_MACS_TORCHINFO},
            reason="torchinfo"),
]
