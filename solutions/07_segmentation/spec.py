"""Assignment 07_segmentation: its checks, points and rules (instructor side: never released).

References come from torch in float64 (``conv_transpose2d``, ``max_pool2d`` with
indices, ``max_unpool2d``) and from the course's library (``cnn_course.models.UNet``,
whose parameters map one to one onto the names the assignment fixes, and the judge's
mean IoU). The hidden cases of the numpy parts run with torch out of reach of the
student's code. The training test draws new shapes in every grading session; their
masks stay in the grader's process, inside the ``Metric``.
"""

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnn_course.course.spec import (
    SOLUTION,
    Assignment,
    Example,
    Limits,
    Metric,
    Part,
    Test,
    call,
    run,
)

TRAIN_CPU = 60  # CPU seconds for one call of train_unet (stated in the notebook)
MIN_MEAN_IOU = 0.50
SHAPE_SIZE = 16
NUMPY_ONLY_HINT = "parts 1 and 2 take and return numpy arrays"


def _t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


# --- torch out of reach: the hidden cases of the numpy parts ---------------------------

# Run before the student's function in the case's own process (never in the student's
# kernel: only hidden cases use it). Every torch module becomes unimportable, and every
# name in the answer cells' namespace that refers to torch (the module, F, a function or
# class of torch) refuses to be used, so numpy parts that call torch fail with a message.
HIDE_TORCH = """import sys as _sys


class _NoTorch:
    def __init__(self, name):
        object.__setattr__(self, "_name", name)

    def _refuse(self, *args, **kwargs):
        raise RuntimeError(f"{object.__getattribute__(self, '_name')}: torch is not "
                           "available in parts 1 and 2; write them with numpy")

    def __getattr__(self, attr):
        self._refuse()

    __call__ = __getitem__ = __iter__ = __setattr__ = _refuse


def _of_torch(value):
    if isinstance(value, type(_sys)):
        name = value.__name__
    else:
        name = getattr(value, "__module__", None) or ""
    return isinstance(name, str) and (name == "torch" or name.startswith("torch."))


for _name in [m for m in _sys.modules if m == "torch" or m.startswith("torch.")]:
    _sys.modules[_name] = None
_space = {function}.__globals__
for _key, _value in list(_space.items()):
    if not _key.startswith("__") and _of_torch(_value):
        _space[_key] = _NoTorch(_key)
"""


def _numpy_only(function, code):
    return HIDE_TORCH.replace("{function}", function) + code


# --- part 1: conv_transpose2d_forward --------------------------------------------------

def _conv_t(x, w, b, stride=1, pad=0):
    return F.conv_transpose2d(_t(x), _t(w), _t(b), stride=stride, padding=pad).numpy()


def _conv_t_size(H, HH, stride, pad):
    return (H - 1) * stride - 2 * pad + HH


def conv_transpose_visible(rng):
    x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    k = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    yield call("conv_transpose2d_forward", x, k, np.zeros(1),
               expect=[[[[0, 0, 1], [0, 4, 6], [4, 12, 9]]]],
               label="the decks' example: [[0, 1], [2, 3]] with kernel [[0, 1], [2, 3]]",
               hint="each input pixel adds its value times the kernel at its own "
                    "position; overlapping copies add up")
    yield call("conv_transpose2d_forward", x, k, np.zeros(1), exact_type="ndarray",
               expect=[[[[0, 0, 1], [0, 4, 6], [4, 12, 9]]]], label="the type returned",
               hint=NUMPY_ONLY_HINT)
    ones = np.ones((1, 1, 2, 2))
    yield call("conv_transpose2d_forward", ones, np.ones((1, 1, 3, 3)), np.zeros(1),
               kwargs={"stride": 2}, expect=_conv_t(ones, np.ones((1, 1, 3, 3)),
                                                    np.zeros(1), 2),
               label="stride 2: a 2x2 input of ones, a 3x3 kernel of ones -> 5x5",
               hint="copies start stride apart: (H - 1) * stride + HH; where they "
                    "overlap (the middle row and column) they add up")
    x, w, b = rng.normal(size=(2, 3, 4, 3)), rng.normal(size=(3, 2, 3, 2)), rng.normal(size=2)
    for params in ({"stride": 1, "pad": 0}, {"stride": 2, "pad": 1}):
        yield call("conv_transpose2d_forward", x, w, b, kwargs=params,
                   expect=_conv_t(x, w, b, **params),
                   label=f"x (2, 3, 4, 3), w (3, 2, 3, 2), {params}",
                   shape_hints={_conv_t(x, w, b, params["stride"]).shape:
                                "cut `pad` rows and columns from every side"}
                   if params["pad"] else None,
                   hint="sum over input channels c: w is (C, F, HH, WW); add b[f] once")


CONV_T = "result = conv_transpose2d_forward(x, w, b, stride=stride, pad=pad)\n"


def conv_transpose_hidden(rng):
    made = 0
    while made < 10:
        N, C, F_ = (int(v) for v in rng.integers(1, 4, size=3))
        H, W = (int(v) for v in rng.integers(1, 7, size=2))
        HH, WW = (int(v) for v in rng.integers(1, 5, size=2))
        stride, pad = int(rng.integers(1, 4)), int(rng.integers(0, 3))
        if min(_conv_t_size(H, HH, stride, pad), _conv_t_size(W, WW, stride, pad)) < 1:
            continue
        x, w = rng.normal(size=(N, C, H, W)), rng.normal(size=(C, F_, HH, WW))
        b = rng.normal(size=F_)
        try:
            expect = _conv_t(x, w, b, stride, pad)
        except RuntimeError:
            continue
        made += 1
        yield run(_numpy_only("conv_transpose2d_forward", CONV_T),
                  {"x": x, "w": w, "b": b, "stride": stride, "pad": pad},
                  expect=expect, exact_type="ndarray",
                  label=f"x {x.shape}, w {w.shape}, stride {stride}, pad {pad} "
                        "(torch out of reach)")


# --- part 2: max_pool2d_with_indices, max_unpool2d, bed_of_nails -----------------------

DECK_MAX = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], float)
POOL = """out, indices = max_pool2d_with_indices(x, kernel)
result = {"out": out, "indices": indices,
          "types": [type(out).__name__, type(indices).__name__]}
"""
UNPOOL = """result = max_unpool2d(x, indices, output_size)
"""
ROUND_TRIP = """out, indices = max_pool2d_with_indices(x, kernel)
result = max_unpool2d(out, indices, x.shape[2:])
"""
NAILS = "result = bed_of_nails(x, stride)\n"


def _pool_ref(x, kernel):
    out, idx = F.max_pool2d(_t(x), kernel, return_indices=True)
    return out.numpy(), idx.numpy()


def _unpool_ref(x, indices, kernel, output_size):
    return F.max_unpool2d(_t(x), torch.from_numpy(np.asarray(indices)), kernel,
                          output_size=tuple(output_size)).numpy()


def _nails_ref(x, stride):
    out = np.zeros((*x.shape[:2], x.shape[2] * stride, x.shape[3] * stride))
    out[:, :, ::stride, ::stride] = x
    return out


def _pool_case(x, kernel, label, code=POOL, **options):
    out, idx = _pool_ref(x, kernel)
    return run(code, {"x": x, "kernel": kernel},
               expect={"out": out, "indices": idx, "types": ["ndarray", "ndarray"]},
               label=label, **options)


def unpool_visible(rng):
    x = DECK_MAX[None, None]
    yield _pool_case(x, 2, "the decks' 4x4 example: maxima [[6, 8], [3, 4]] at flat "
                     "positions [[5, 7], [8, 15]]",
                     hint="indices are row * W + column in the input plane (W = 4), "
                          "not the position inside the window")
    out, idx = _pool_ref(x, 2)
    yield run(UNPOOL, {"x": out, "indices": idx, "output_size": (4, 4)},
              expect=_unpool_ref(out, idx, 2, (4, 4)),
              label="max_unpool2d of the decks' example: 6, 8, 3, 4 back in place",
              hint="zeros everywhere, each value at its flat index")
    odd = rng.normal(size=(2, 3, 5, 7))
    yield _pool_case(odd, 2, "x (2, 3, 5, 7), kernel 2: the last row and column are "
                     "dropped", hint="H // kernel, W // kernel windows; flat indices "
                     "use the input's W = 7")
    yield run(ROUND_TRIP, {"x": odd, "kernel": 2}, expect=_unpool_ref(
        *_pool_ref(odd, 2), 2, (5, 7)), label="pool, then unpool to (5, 7)",
        hint="output_size (5, 7): the dropped row and column come back as zeros")
    small = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    yield run(NAILS, {"x": small, "stride": 2}, expect=_nails_ref(small, 2),
              exact_type="ndarray",
              label="bed_of_nails([[1, 2], [3, 4]], 2)",
              hint="[[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]; "
                   + NUMPY_ONLY_HINT)


def unpool_hidden(rng):
    for _ in range(5):
        N, C = (int(v) for v in rng.integers(1, 4, size=2))
        kernel = int(rng.integers(1, 4))
        H, W = (int(v) for v in rng.integers(kernel, 10, size=2))
        x = rng.normal(size=(N, C, H, W))
        yield _pool_case(x, kernel, f"pooling x {x.shape}, kernel {kernel} (torch out "
                         "of reach)", code=_numpy_only("max_pool2d_with_indices", POOL))
        out, idx = _pool_ref(x, kernel)
        values = rng.normal(size=out.shape)  # new values at the remembered positions
        yield run(_numpy_only("max_unpool2d", UNPOOL),
                  {"x": values, "indices": idx, "output_size": (H, W)},
                  expect=_unpool_ref(values, idx, kernel, (H, W)), exact_type="ndarray",
                  label=f"unpooling {out.shape} to {(H, W)} (torch out of reach)")


def nails_hidden(rng):
    for _ in range(4):
        N, C, H, W = (int(v) for v in rng.integers(1, 5, size=4))
        stride = int(rng.integers(1, 4))
        x = rng.normal(size=(N, C, H, W))
        yield run(_numpy_only("bed_of_nails", NAILS), {"x": x, "stride": stride},
                  expect=_nails_ref(x, stride), exact_type="ndarray",
                  label=f"x {x.shape}, stride {stride} (torch out of reach)")


# --- part 3: UNet -------------------------------------------------------------------------

def _library_unet(**config):
    from cnn_course.models import UNet

    return UNet(**config)


def _to_library(name, batch_norm):
    """The assignment's parameter name -> the library UNet's (nn.Sequential indices)."""
    layers = {"conv1": 0, "bn1": 1, "conv2": 3, "bn2": 4} if batch_norm else \
        {"conv1": 0, "conv2": 2}
    parts = name.split(".")
    if parts[0] in ("down", "up_conv"):
        parts[2] = str(layers[parts[2]])
    return ".".join(parts)


def _names(config):
    """The assignment's state-dict keys, in the library's order, with their shapes."""
    batch_norm = config.get("batch_norm", False)
    with torch.device("meta"):
        library = _library_unet(**config).state_dict()
    back = {}
    for name in _assignment_names(config):
        back[_to_library(name, batch_norm)] = name
    return {back[k]: tuple(v.shape) for k, v in library.items()}


def _assignment_names(config):
    depth, batch_norm = config.get("depth", 4), config.get("batch_norm", False)
    leaves = []
    for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
        if batch_norm:
            leaves += [f"{conv}.weight"] + [f"{bn}.{k}" for k in (
                "weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
        else:
            leaves += [f"{conv}.weight", f"{conv}.bias"]
    names = [f"down.{i}.{leaf}" for i in range(depth + 1) for leaf in leaves]
    names += [f"up.{j}.{k}" for j in range(depth) for k in ("weight", "bias")]
    names += [f"up_conv.{j}.{leaf}" for j in range(depth) for leaf in leaves]
    return names + ["head.weight", "head.bias"]


def _random_state(rng, config):
    """Random weights (and batch-norm statistics) under the assignment's names."""
    state = {}
    for name, shape in _names(config).items():
        if name.endswith("num_batches_tracked"):
            state[name] = np.array(3, dtype=np.int64)
        elif name.endswith("running_var"):
            state[name] = rng.uniform(0.5, 2.0, size=shape)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            state[name] = rng.normal(size=shape) * np.sqrt(2.0 / max(fan_in, 1))
    return state


def _unet_ref(config, state, x):
    model = _library_unet(**config).double().eval()
    batch_norm = config.get("batch_norm", False)
    model.load_state_dict({_to_library(k, batch_norm): torch.from_numpy(np.asarray(v))
                           for k, v in state.items()})
    with torch.no_grad():
        return model(_t(x)).numpy()


UNET_SHAPE = """model = UNet(**config)
with torch.no_grad():
    result = model(torch.zeros(shape))
"""
UNET_NAMES = """model = UNet(**config)
result = {name: tuple(value.shape) for name, value in model.state_dict().items()}
"""
UNET_META = """with torch.device("meta"):
    model = UNet(**config)
    out = model(torch.empty(shape))
result = {"output": tuple(out.shape),
          "parameters": sum(p.numel() for p in model.parameters())}
"""
UNET_VALUES = """model = UNet(**config).double()
model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
model.eval()
with torch.no_grad():
    result = model(torch.from_numpy(x))
"""
PAPER = {"output": (1, 2, 388, 388), "parameters": 31_030_658}


def unet_visible(rng):
    small = {"num_classes": 4, "in_channels": 3, "base_channels": 8, "depth": 2,
             "padding": "same"}
    yield run(UNET_SHAPE, {"config": small, "shape": (2, 3, 32, 32)},
              expect=np.zeros((2, 4, 32, 32)), shape_only=True,
              label="same padding, depth 2: (2, 3, 32, 32) -> (2, 4, 32, 32)",
              hint="same padding keeps every size; num_classes maps from the 1x1 head")
    yield run(UNET_NAMES, {"config": small}, expect=_names(small),
              label="the parameter names and shapes, depth 2, base_channels 8",
              hint="the names the notebook fixes: down.{i}.conv1.weight, up.{j}.weight, "
                   "up_conv.{j}.conv2.bias, head.weight, ...")
    yield run(UNET_META, {"config": {}, "shape": (1, 1, 572, 572)}, expect=PAPER,
              label="the paper's network on the meta device: 572x572 -> 388x388, "
                    "31,030,658 parameters",
              hint="valid padding: each 3x3 convolution takes 2 pixels, so crop the "
                   "skip's centre to the up-convolved size before concatenating")
    config = {"num_classes": 3, "in_channels": 2, "base_channels": 4, "depth": 2,
              "padding": "same"}
    state = _random_state(rng, config)
    x = rng.normal(size=(1, 2, 8, 12))
    yield run(UNET_VALUES, {"config": config, "state": state, "x": x},
              expect=_unet_ref(config, state, x),
              label="the grader's weights, same padding, x (1, 2, 8, 12)",
              hint="torch.cat([skip, x], dim=1): the skip first; ReLU after each 3x3 "
                   "convolution, none after the head")


def unet_hidden(rng):
    configs = [
        ({"num_classes": 2, "in_channels": 1, "base_channels": 4, "depth": 2,
          "padding": "valid"}, (2, 1, 44, 60)),
        ({"num_classes": 5, "in_channels": 3, "base_channels": 3, "depth": 3,
          "padding": "same"}, (1, 3, 16, 24)),
        ({"num_classes": 1, "in_channels": 2, "base_channels": 4, "depth": 1,
          "padding": "same", "batch_norm": True}, (3, 2, 6, 10)),
        ({"num_classes": 3, "in_channels": 1, "base_channels": 2, "depth": 2,
          "padding": "valid", "batch_norm": True}, (1, 1, 60, 44)),
    ]
    for config, shape in configs:
        state = _random_state(rng, config)
        x = rng.normal(size=shape)
        yield run(UNET_VALUES, {"config": config, "state": state, "x": x},
                  expect=_unet_ref(config, state, x),
                  label=f"{config}, x {shape}")


def unet_sizes_hidden(rng):
    for config, shape in (({"depth": 2, "base_channels": 2}, (1, 1, 60, 76)),
                          ({"depth": 3, "base_channels": 2, "in_channels": 3,
                            "num_classes": 4}, (2, 3, 140, 108)),
                          ({"depth": 2, "base_channels": 4, "padding": "same",
                            "batch_norm": True}, (1, 1, 20, 12))):
        with torch.device("meta"):
            model = _library_unet(**config)
            out = model(torch.empty(shape))
        yield run(UNET_META, {"config": config, "shape": shape},
                  expect={"output": tuple(out.shape),
                          "parameters": sum(p.numel() for p in model.parameters())},
                  label=f"{config}, x {shape}, on the meta device")


# --- part 4: iou ----------------------------------------------------------------------

IOU = """per_class, mean = iou(pred, target, num_classes)
per_class = np.asarray(per_class, dtype=float)
result = {"per class (NaN shown as -1)": np.where(np.isnan(per_class), -1.0, per_class),
          "mean": float(mean)}
"""


def _iou_ref(pred, target, num_classes):
    per = []
    for c in range(num_classes):
        p, t = pred == c, target == c
        union = np.logical_or(p, t).sum()
        per.append(np.logical_and(p, t).sum() / union if union else -1.0)
    per = np.array(per, dtype=float)
    return {"per class (NaN shown as -1)": per, "mean": float(per[per >= 0].mean())}


def _iou_case(pred, target, num_classes, label, **options):
    return run(IOU, {"pred": pred, "target": target, "num_classes": num_classes},
               expect=_iou_ref(pred, target, num_classes), label=label, **options)


def iou_visible(rng):
    target = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 1], [2, 2, 0, 0]])
    yield _iou_case(pred, target, 3, "a 3x4 mask: IoU [3/6, 4/5, 2/4]",
                    hint="IoU_c = |pred == c and target == c| / |pred == c or "
                         "target == c|; the mean over the classes")
    yield _iou_case(pred, target, 5, "the same mask with num_classes 5: classes 3 and "
                    "4 appear nowhere", hint="a class absent from both is NaN and left "
                    "out of the mean (np.nanmean)")
    yield _iou_case(np.array([0, 3, 3]), np.array([0, 0, 0]), 4, "class 3 predicted "
                    "but absent from the target", hint="predicted but absent: IoU 0, "
                    "and it counts in the mean")


def iou_hidden(rng):
    for shape, K in (((2, 5, 7), 4), ((1, 16, 16), 2), ((3, 4, 4), 6), ((9,), 3),
                     ((1, 1, 1), 3)):
        target = rng.integers(0, K, size=shape)
        pred = np.where(rng.random(shape) < 0.6, target, rng.integers(0, K, size=shape))
        if K > 3:  # one class nowhere, one only predicted
            target = np.where(target == K - 1, 0, target)
            pred = np.where(pred == K - 1, 0, pred)
            target = np.where(target == K - 2, 1, target)
        yield _iou_case(pred, target, K, f"masks {shape}, {K} classes")


# --- part 5: training ------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _shapes(n, seed):
    from cnn_course.data import shapes

    ds = shapes(n, SHAPE_SIZE, seed=seed)
    return ds.images.numpy(), ds.masks.numpy()


TRAIN_QUICK = """model = train_unet(images, masks, steps=steps)
predicted = np.asarray(segment(model, test_images))
result = {"shape": predicted.shape, "integers": predicted.dtype.kind in "iu",
          "classes": sorted(set(np.unique(predicted).tolist()) - {0, 1, 2, 3})}
"""
TRAIN = """model = train_unet(images, masks)
result = np.asarray(segment(model, test_images))
"""


def train_visible(rng):
    images, masks = _shapes(40, 7)
    yield run(TRAIN_QUICK, {"images": images[:32], "masks": masks[:32], "steps": 5,
                            "test_images": images[32:]},
              expect={"shape": (8, SHAPE_SIZE, SHAPE_SIZE), "integers": True,
                      "classes": []},
              label="5 steps on 32 shapes: segment returns integer masks (8, 16, 16) "
                    "of classes 0 to 3", cpu_seconds=TRAIN_CPU,
              hint="segment returns the arg-max over the 4 class scores, (N, H, W)")


def train_hidden(rng):
    seed = int(rng.integers(1_000, 2**31))
    images, masks = _shapes(1200, seed)
    yield run(TRAIN, {"images": images[:1000], "masks": masks[:1000],
                      "test_images": images[1000:]},
              metric=Metric("mean_iou", masks[1000:], MIN_MEAN_IOU, num_classes=4),
              cpu_seconds=TRAIN_CPU,
              label="trained on 1,000 new shapes, scored on 200 held-back masks")


SPEC = Assignment(
    name="07_segmentation",
    title="upsampling, U-Net and segmentation",
    lectures=("12_beyond_classification",),
    allow=("numpy", "torch", "matplotlib"),
    forbid=("cnn_course", "torchvision", "sklearn", "scipy", "skimage", "cv2"),
    rtol=1e-5,
    atol=1e-5,
    tolerance_note="float32 results are fine",
    limits=Limits(call_cpu=10, cell_cpu=20),
    seed=20261222,
    parts=[
        Part("conv_transpose", "`conv_transpose2d_forward`: transposed convolution in "
             "numpy", ("conv_transpose2d_forward",), [
            Test("conv_transpose_visible", 1, "conv_transpose2d_forward: the decks' "
                 "example, stride 2, channels, padding against torch.",
                 conv_transpose_visible),
            Test("conv_transpose_hidden", 2, "conv_transpose2d_forward matches torch on "
                 "random shapes, strides and paddings (torch out of reach).",
                 conv_transpose_hidden, hidden=True),
        ]),
        Part("unpooling", "`max_pool2d_with_indices`, `max_unpool2d`, `bed_of_nails`: "
             "unpooling in numpy", ("max_pool2d_with_indices", "max_unpool2d",
                                    "bed_of_nails"), [
            Test("unpool_visible", 1, "pooling with remembered positions, max-unpooling "
                 "and bed of nails on the decks' example and odd sizes.", unpool_visible),
            Test("unpool_hidden", 1, "max pooling with indices and max-unpooling match "
                 "torch on random shapes (torch out of reach).", unpool_hidden,
                 hidden=True),
            Test("nails_hidden", 1, "bed_of_nails on random shapes and strides (torch "
                 "out of reach).", nails_hidden, hidden=True),
        ]),
        Part("unet", "`UNet`: contracting path, up-convolutions, skips and a 1x1 head",
             ("unet",), [
            Test("unet_visible", 1, "UNet: same-padding shapes, the fixed parameter "
                 "names, the paper's 572 -> 388, values with the grader's weights.",
                 unet_visible),
            Test("unet_hidden", 2, "UNet matches the reference with the grader's weights "
                 "(valid and same padding, batch norm, depths 1 to 3).", unet_hidden,
                 hidden=True),
            Test("unet_sizes_hidden", 1, "UNet output sizes and parameter counts on "
                 "other inputs and depths.", unet_sizes_hidden, hidden=True),
        ]),
        Part("iou", "`iou`: intersection over union per class, and its mean", ("iou",), [
            Test("iou_visible", 1, "iou on a small mask, with absent and only-predicted "
                 "classes.", iou_visible),
            Test("iou_hidden", 1, "iou matches the reference on random masks.",
                 iou_hidden, hidden=True),
        ]),
        Part("train", "`train_unet`, `segment`: segmenting the synthetic shapes",
             ("train_unet", "segment"), [
            Test("train_visible", 1, "train_unet and segment run and return integer "
                 "masks of the right shape.", train_visible),
            Test("train_hidden", 2, f"your U-Net reaches a mean IoU of at least "
                 f"{MIN_MEAN_IOU:.2f} on 200 held-back masks (new shapes in every session).",
                 train_hidden, hidden=True, fresh=True),
        ]),
    ],
)

# --- example submissions -------------------------------------------------------------

_NO_CROP = '''def conv_transpose2d_forward(x, w, b, stride=1, pad=0):
    """Scatters the kernel copies, but never cuts the padding off."""
    N, C, H, W = x.shape
    _, F_, HH, WW = w.shape
    out = np.zeros((N, F_, (H - 1) * stride + HH, (W - 1) * stride + WW))
    for i in range(H):
        for j in range(W):
            patch = np.einsum("nc,cfpq->nfpq", x[:, :, i, j], w)
            out[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW] += patch
    return out + b[None, :, None, None]
'''

_WITH_TORCH = '''def conv_transpose2d_forward(x, w, b, stride=1, pad=0):
    """torch's transposed convolution, back to numpy (not allowed in part 1)."""
    out = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                             stride=stride, padding=pad)
    return out.numpy()
'''

_MEAN_WITH_ABSENT = '''def iou(pred, target, num_classes):
    """Counts a class that appears nowhere as IoU 0 in the mean."""
    pred, target = np.asarray(pred), np.asarray(target)
    per_class = np.zeros(num_classes)
    for c in range(num_classes):
        union = np.logical_or(pred == c, target == c).sum()
        if union:
            per_class[c] = np.logical_and(pred == c, target == c).sum() / union
    return per_class, float(per_class.mean())
'''

_SCORES = '''def segment(model, images):
    """Returns the class scores, not the predicted classes."""
    x = (torch.as_tensor(np.asarray(images)).float() / 255 - 0.5) / 0.25
    model.eval()
    with torch.no_grad():
        return model(x).numpy()  # (N, 4, H, W)
'''

_ALL = {a: SOLUTION for p in SPEC.parts for a in p.answers}


def _solution(grade_id):
    """One answer cell of the solution notebook, as code."""
    import nbformat

    from cnn_course.course.spec.generate import solution_answers

    notebook = nbformat.read(Path(__file__).with_name("07_segmentation.ipynb"), as_version=4)
    return solution_answers(notebook)[grade_id]

SPEC.examples = [
    Example("full_solution", "every part right: full marks", 15),
    Example("blank", "the release as handed out: 0", 0, answers={}),
    Example("partly_correct", "the numpy parts and iou, no U-Net: partial credit", 8,
            answers={a: SOLUTION for a in ("conv_transpose2d_forward",
                                           "max_pool2d_with_indices", "max_unpool2d",
                                           "bed_of_nails", "iou")}),
    Example("no_crop", "the transposed convolution ignores pad: part 1 earns nothing",
            12, answers={**_ALL, "conv_transpose2d_forward": _NO_CROP},
            reason="cut `pad`"),
    Example("skip_second", "U-Net concatenates the skip after the up-convolved map: its "
            "values are wrong with the grader's weights, its shapes right", 12,
            answers={**_ALL, "unet": _solution("unet").replace(
                "torch.cat([skip, x], dim=1)", "torch.cat([x, skip], dim=1)")},
            reason="the skip first"),
    Example("uses_torch", "part 1 with torch's conv_transpose2d: the visible test passes, "
            "the hidden ones (torch out of reach) fail", 13,
            answers={**_ALL, "conv_transpose2d_forward": _WITH_TORCH},
            reason="torch is not available in parts 1 and 2"),
    Example("mean_with_absent", "iou counts absent classes as 0 in the mean: part 4 "
            "earns nothing", 13, answers={**_ALL, "iou": _MEAN_WITH_ABSENT},
            reason="np.nanmean"),
    Example("segment_scores", "segment returns the scores, not the classes: part 5 "
            "earns nothing", 12, answers={**_ALL, "segment": _SCORES}, reason="arg-max"),
]
