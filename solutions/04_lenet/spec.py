"""Assignment 04_lenet: its checks, points and rules (instructor side: never released).

References come from the library's LeNet-5 (``cnn_course.models.lenet``): its scaled
tanh, trainable subsampling, partial C3 and the whole classic network. Module checks
load the grader's weights into the student's module by the names the notebook fixes
(``load_state_dict(strict=True)``) and compare outputs in float64; the weights are made
from a seed by :data:`~cnn_course.course.spec.weights.GRADER_WEIGHTS`, the same code on both sides.

Training (Part 4) runs on MNIST in the grader's sandbox. Each grading session draws
the order of the 60,000 training digits and 5,000 test digits from the 10,000; the
student's ``train_lenet`` trains the grader's own LeNet-5 (the same layers and names,
C3 as one masked convolution, so that the time a step takes does not depend on the
student's C3) within ``TRAIN_CPU`` CPU seconds. The predictions come from a fresh copy
of the grader's network loaded with the trained weights, never from student code's
forward pass, and the test labels stay in the grader's process. The two thresholds
are two test cells that share one training run (``key=``).
"""

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from cnn_course.course.spec import (
    SOLUTION,
    Assignment,
    Example,
    Limits,
    Metric,
    Part,
    Test,
    run,
)
from cnn_course.course.spec.weights import GRADER_WEIGHTS as WEIGHTS
from cnn_course.course.spec.weights import NAMES, NAMES_HINT, PARAMS, grader_weights
from cnn_course.models.lenet import C3_TABLE, LeNet5, PartialConv2d, ScaledTanh, Subsampling
from cnn_course.models.lenet import rbf_prototypes

TRAIN_CPU = 90  # CPU seconds handed to train_lenet by the grader (stated in the notebook)
TRAIN_SLACK = 30  # CPU seconds on top, for the data, the set-up and the predictions
TEST_DIGITS = 5_000
THRESHOLDS = (0.97, 0.985)
VISIBLE_TRAIN, VISIBLE_TEST, VISIBLE_CPU = 600, 200, 5


# --- the grader's weights: the same code here and in the checks --------------------------


LENET_NAMES = {"features.c1": "c1", "features.s2": "s2", "features.c3": "c3",
               "features.s4": "s4", "features.c5": "c5"}


def _renamed(name: str, rename: dict[str, str]) -> str:
    for old, new in rename.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old):]
    return name


def _entries(model: nn.Module, rename: dict[str, str] | None = None) -> list:
    """[(name, shape, kind), ...] of model's state dict, names as the notebook fixes them."""
    params = {name for name, _ in model.named_parameters()}
    out = []
    for name, tensor in model.state_dict().items():
        kind = ("fixed" if name not in params else
                "weight" if name.endswith("weight") else "bias")
        out.append((_renamed(name, rename or {}), list(tensor.shape), kind))
    return out


def _reference(model: nn.Module, entries: list, seed: int, x: np.ndarray,
               rename: dict | None = None) -> np.ndarray:
    """model's output in float64 under the grader's weights (fixed buffers kept)."""
    back = {v: k for k, v in (rename or {}).items()}
    state = {_renamed(k, back): v for k, v in grader_weights(entries, seed).items()}
    model = model.double()
    own = model.state_dict()
    state.update({k: v for k, v in own.items() if k not in state})  # the prototypes
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# What a module check runs: build, load the grader's weights by name, run in float64.
MODULE = WEIGHTS + '''
previous = torch.get_default_dtype()
torch.set_default_dtype(torch.float64)  # the module in float64, the default restored after
try:
    model = eval(build)
    state = grader_weights(entries, seed)
    own = model.state_dict()
    state.update({name: own[name] for name, shape, kind in entries if kind == "fixed"})
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        result = model(torch.from_numpy(x)).numpy()
finally:
    torch.set_default_dtype(previous)
'''


def _module_case(build, reference, x, seed, label, rename=None, **options):
    entries = _entries(reference, rename)
    return run(MODULE, {"build": build, "entries": entries, "seed": seed, "x": x},
               expect=_reference(reference, entries, seed, x, rename), label=label,
               **options)


def _names_case(build, reference, label, rename=None, **options):
    expected = sorted([name, shape] for name, shape, _ in _entries(reference, rename))
    return run(NAMES, {"build": build}, expect=expected, label=label,
               hint=options.pop("hint", NAMES_HINT), **options)


def _params_case(build, count, label, **options):
    return run(PARAMS, {"build": build}, expect=count, rtol=0, atol=0, exact_type="int",
               label=label, **options)


# --- part 1: scaled tanh and subsampling ----------------------------------------------------

TANH = "result = ScaledTanh()(torch.from_numpy(x)).numpy()"
SUBSAMPLE_SET = '''
model = Subsampling(len(weight))
model.load_state_dict({"weight": torch.from_numpy(weight), "bias": torch.from_numpy(bias)},
                      strict=True)
with torch.no_grad():
    result = model(torch.from_numpy(x)).numpy()
'''
SUM_HINT = "add the four values of each 2x2 window (stride 2), multiply by weight[c], " \
           "add bias[c]"


def _tanh_ref(x):
    return ScaledTanh()(torch.from_numpy(x)).numpy()


def tanh_subsampling_visible(rng):
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    yield run(TANH, {"x": x}, expect=_tanh_ref(x), label="ScaledTanh at -3, -1, 0, 1, 3",
              hint="1.7159 * tanh(2 * x / 3): f(1) is about 1")
    yield _params_case("ScaledTanh()", 0, "ScaledTanh has no parameters")
    window = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    yield run(SUBSAMPLE_SET, {"x": window, "weight": np.array([0.5]),
                              "bias": np.array([1.0])}, expect=[[[[6.0]]]],
              label="the window [[1, 2], [3, 4]], coefficient 0.5, bias 1: 6",
              hint=SUM_HINT + " (the sum, not the mean)")
    yield _names_case("Subsampling(6)", Subsampling(6),
                      "Subsampling(6): weight (6,) and bias (6,), 12 parameters")
    x = rng.normal(size=(2, 3, 5, 7))
    yield _module_case("Subsampling(3)", Subsampling(3), x, 1,
                       "Subsampling(3) on x (2, 3, 5, 7) under the grader's weights",
                       hint=SUM_HINT, shape_hints=[
                           ((2, 3, 3, 4), "an odd last row or column is dropped: "
                                          "H // 2, W // 2")])


def tanh_subsampling_hidden(rng):
    x = rng.normal(size=(3, 4, 5)) * 4
    yield run(TANH, {"x": x}, expect=_tanh_ref(x), label=f"ScaledTanh on x {x.shape}")
    for _ in range(4):
        N, C = int(rng.integers(1, 4)), int(rng.integers(1, 7))
        H, W = (int(v) for v in rng.integers(2, 12, size=2))
        x = rng.normal(size=(N, C, H, W))
        yield _module_case(f"Subsampling({C})", Subsampling(C), x,
                           int(rng.integers(10**6)), f"Subsampling({C}) on x {x.shape}")


# --- part 2: C3 ---------------------------------------------------------------------------

TABLE_HINT = "map j reads the S2 maps C3_TABLE[j], in that order, with its own 5x5 " \
             "kernel and bias; the outputs in the order of the table"


def c3_visible(rng):
    reference = PartialConv2d(C3_TABLE)
    yield _params_case("C3()", 1516, "C3 has 1,516 parameters",
                       hint="16 * (6 * 25 + 1) = 2,416 is the fully connected count: each "
                            "map reads only its S2 maps")
    yield _names_case("C3()", reference, "C3's parameters: maps.j.weight "
                      "(1, len(C3_TABLE[j]), 5, 5) and maps.j.bias (1,)")
    x = rng.normal(size=(1, 6, 14, 14))
    yield _module_case("C3()", reference, x, 2, "C3 on x (1, 6, 14, 14) under the "
                       "grader's weights", hint=TABLE_HINT,
                       shape_hints=[((1, 16, 14, 14), "no padding: H - 4, W - 4")])


def c3_hidden(rng):
    for _ in range(4):
        N = int(rng.integers(1, 4))
        H, W = (int(v) for v in rng.integers(5, 14, size=2))
        x = rng.normal(size=(N, 6, H, W))
        yield _module_case("C3()", PartialConv2d(C3_TABLE), x, int(rng.integers(10**6)),
                           f"C3 on x {x.shape}")


# --- part 3: LeNet-5 ---------------------------------------------------------------------

LAYERS = ("c1", "s2", "c3", "s4", "c5", "f6", "output")
PER_LAYER = '''
model = LeNet5()
result = {name: sum(p.numel() for p in getattr(model, name).parameters())
          for name in layers}
result["total"] = sum(p.numel() for p in model.parameters())
'''
SHAPES = '''
model = LeNet5()
shapes = {}


def record(name):
    def hook(module, inputs, output):
        shapes.setdefault(name, list(output.shape))
    return hook


hooks = [getattr(model, name).register_forward_hook(record(name)) for name in layers]
with torch.no_grad():
    model(torch.zeros(2, 1, 32, 32))
for hook in hooks:
    hook.remove()
result = [shapes.get(name, []) for name in layers]
'''
PAPER_COUNTS = {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164,
                "output": 0, "total": 60000}
PAPER_SHAPES = [[2, 6, 28, 28], [2, 6, 14, 14], [2, 16, 10, 10], [2, 16, 5, 5],
                [2, 120, 1, 1], [2, 84], [2, 10]]
SQUASH_HINT = "a ScaledTanh after c1, s2, c3, s4, c5 and f6, none after the output"


def _lenet() -> nn.Module:
    return LeNet5(input_size=32)


def lenet5_visible(rng):
    yield run(PER_LAYER, {"layers": list(LAYERS)}, expect=PAPER_COUNTS, rtol=0, atol=0,
              label="parameters per layer: 156, 12, 1,516, 32, 48,120, 10,164, 0 = 60,000",
              hint="the paper's table: check each layer's sizes")
    yield run(SHAPES, {"layers": list(LAYERS)}, expect=PAPER_SHAPES, rtol=0, atol=0,
              label="output shapes of c1 ... output on (2, 1, 32, 32)",
              hint="6x28x28, 6x14x14, 16x10x10, 16x5x5, 120x1x1, 84, 10")
    yield _names_case("LeNet5()", _lenet(), "LeNet5's parameter names", LENET_NAMES)
    x = rng.normal(size=(2, 1, 32, 32))
    yield _module_case("LeNet5()", _lenet(), x, 3, "LeNet5 on x (2, 1, 32, 32) under "
                       "the grader's weights", LENET_NAMES, hint=SQUASH_HINT)


def lenet5_hidden(rng):
    for N in (1, 3):
        x = rng.normal(size=(N, 1, 32, 32))
        yield _module_case("LeNet5()", _lenet(), x, int(rng.integers(10**6)),
                           f"LeNet5 on x {x.shape}", LENET_NAMES)


# --- part 4: training ----------------------------------------------------------------------

# The digits as the grader hands them over; the notebook's given prepare_digits is the
# same code (tests/test_assignment_04.py checks it), but the checks never call the
# notebook's copy.
PREPARE = '''
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def prepare_digits(images):
    """uint8 MNIST digits (N, 28, 28) -> float32 tensor (N, 1, 32, 32): padded by 2 to
    the paper's 32x32 and standardised with MNIST's mean and standard deviation."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255)  # (N, 28, 28)
    x = F.pad(x, (2, 2, 2, 2))  # (N, 32, 32)
    return ((x - MNIST_MEAN) / MNIST_STD)[:, None]  # (N, 1, 32, 32)
'''

# The grader's own LeNet-5: the layers and names of Part 3, C3 as one masked convolution.
GRADER_LENET = '''
class _Subsampling(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return 4 * F.avg_pool2d(x, 2) * self.weight.view(1, -1, 1, 1) \\
            + self.bias.view(1, -1, 1, 1)


class _C3(nn.Module):
    def __init__(self, table):
        super().__init__()
        self.table = table
        self.maps = nn.ModuleList(nn.Conv2d(len(inputs), 1, 5) for inputs in table)

    def forward(self, x):
        kernel = x.new_zeros(len(self.table), 6, 5, 5)
        for j, (conv, inputs) in enumerate(zip(self.maps, self.table)):
            kernel = kernel.index_put((torch.tensor([j]), torch.tensor(inputs)),
                                      conv.weight[0])
        bias = torch.cat([conv.bias for conv in self.maps])
        return F.conv2d(x, kernel, bias)


class _GraderLeNet5(nn.Module):
    def __init__(self, table, prototypes):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = _Subsampling(6)
        self.c3 = _C3(table)
        self.s4 = _Subsampling(16)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Module()
        self.output.register_buffer("prototypes", torch.as_tensor(prototypes).float())
        for module in self.modules():  # the paper's initialisation
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                bound = 2.4 / module.weight[0].numel()
                nn.init.uniform_(module.weight, -bound, bound)
                nn.init.uniform_(module.bias, -bound, bound)

    def forward(self, x):
        f = lambda a: 1.7159 * torch.tanh(2 * a / 3)  # noqa: E731
        x = f(self.s2(f(self.c1(x))))
        x = f(self.s4(f(self.c3(x))))
        x = f(self.f6(f(self.c5(x)).flatten(1)))
        diff = x.unsqueeze(1) - self.output.prototypes
        return -(diff * diff).sum(dim=2)
'''

IMPORTS = '''
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
'''

TRAIN = IMPORTS + PREPARE + GRADER_LENET + '''
torch.set_num_threads(1)
torch.manual_seed(seed)
table = tuple(tuple(int(i) for i in row) for row in table)
model = _GraderLeNet5(table, prototypes)
images, labels = prepare_digits(train_images), torch.from_numpy(train_labels).long()
returned = train_lenet(model, images, labels, cpu_seconds)
if not isinstance(returned, nn.Module):
    raise TypeError(f"train_lenet should return the model it trained, not a "
                    f"{type(returned).__name__}")
state = {k: torch.as_tensor(v).detach().clone() for k, v in returned.state_dict().items()}
fresh = _GraderLeNet5(table, prototypes)
fresh.load_state_dict(state, strict=True)  # the trained weights, in the grader's network
fresh.output.prototypes.copy_(torch.as_tensor(prototypes))  # the prototypes stay fixed
fresh.eval()
with torch.no_grad():
    test = prepare_digits(test_images)
    result = torch.cat([fresh(batch).argmax(dim=1) for batch in test.split(1000)]).numpy()
'''

VISIBLE_TRAIN_CODE = IMPORTS + PREPARE + '''
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                      nn.Linear(8 * 7 * 7, 10))
# Warm torch up first: the first forward, backward and optimiser step of a process
# cost seconds of CPU that would otherwise come out of train_lenet's small budget.
warm = nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                     nn.Linear(8 * 7 * 7, 10))
for make in (torch.optim.Adam, torch.optim.SGD):
    step = make(warm.parameters(), lr=1e-3)
    F.cross_entropy(warm(prepare_digits(train_images[:32])),
                    torch.from_numpy(train_labels[:32]).long()).backward()
    step.step()
returned = train_lenet(model, prepare_digits(train_images),
                       torch.from_numpy(train_labels).long(), cpu_seconds)
assert returned is model, "train_lenet should return the model it was given, trained"
with torch.no_grad():
    result = model.eval()(prepare_digits(test_images)).argmax(dim=1).numpy()
'''


@lru_cache(maxsize=1)
def _mnist():
    """MNIST as uint8 (N, 28, 28) arrays and int64 labels: (train, test)."""
    from cnn_course.data import mnist

    splits = []
    for split in ("train", "test"):
        data = mnist(split)
        splits.append((data.images.numpy()[:, 0], data.labels.numpy().astype(np.int64)))
    return tuple(splits)


def training_visible(rng):
    (train_x, train_y), (test_x, test_y) = _mnist()
    inputs = {"train_images": train_x[-VISIBLE_TRAIN:], "train_labels": train_y[-VISIBLE_TRAIN:],
              "test_images": test_x[-VISIBLE_TEST:], "cpu_seconds": VISIBLE_CPU}
    yield run(VISIBLE_TRAIN_CODE, inputs,
              metric=Metric("accuracy", test_y[-VISIBLE_TEST:], 0.75),
              cpu_seconds=VISIBLE_CPU + 12, watch=False,
              label=f"a small CNN trained by train_lenet for {VISIBLE_CPU} s of CPU on "
                    f"{VISIBLE_TRAIN} digits, tested on {VISIBLE_TEST}",
              hint="train with the optimiser, in batches, and stop when "
                   "time.process_time() - start reaches cpu_seconds")


# The two thresholds share one training run (one key), so their cases must hold the
# same digits. Each test draws from its own random stream, so the first test's draw is
# kept here and the second reuses it: the grader builds every test's cases in order,
# within one process, for one session.
_SHARED_DRAW: dict = {}


def _draw(rng, first: bool):
    if first or "draw" not in _SHARED_DRAW:
        (train_x, train_y), (test_x, test_y) = _mnist()
        order = rng.permutation(len(train_x))
        pick = rng.choice(len(test_x), size=TEST_DIGITS, replace=False)
        _SHARED_DRAW["draw"] = ({"train_images": train_x[order], "train_labels": train_y[order],
                                 "test_images": test_x[pick],
                                 "seed": int(rng.integers(10**6))}, test_y[pick])
    return _SHARED_DRAW["draw"]


def _training(threshold: float, first: bool):
    def cases(rng):
        inputs, labels = _draw(rng, first)
        inputs = {**inputs, "cpu_seconds": TRAIN_CPU, "table": [list(r) for r in C3_TABLE],
                  "prototypes": rbf_prototypes().numpy()}
        yield run(TRAIN, inputs, metric=Metric("accuracy", labels, threshold),
                  cpu_seconds=TRAIN_CPU + TRAIN_SLACK, key="lenet_training",
                  label=f"the grader's LeNet-5 trained by train_lenet for {TRAIN_CPU} s of "
                        f"CPU on 60,000 digits in this session's order, tested on "
                        f"{TEST_DIGITS:,} digits drawn for this session")
    return cases


SPEC = Assignment(
    name="04_lenet",
    title="LeNet-5, built and trained",
    lectures=("08_lenet",),
    allow=("numpy", "torch", "matplotlib"),
    forbid=("cnn_course", "torchvision", "torchinfo", "thop", "fvcore"),
    rtol=1e-5,
    atol=1e-5,
    tolerance_note="the checks run your modules in float64",
    limits=Limits(call_cpu=20, cell_cpu=30),
    seed=20261209,
    parts=[
        Part("tanh_subsampling", "`ScaledTanh`, `Subsampling`: the squashing function and "
             "trainable subsampling", ("scaled_tanh", "subsampling"), [
            Test("tanh_subsampling_visible", 1, "ScaledTanh's values; Subsampling on the "
                 "lecture's window, its names and outputs.", tanh_subsampling_visible),
            Test("tanh_subsampling_hidden", 1, "ScaledTanh and Subsampling against the "
                 "reference on random shapes and weights.", tanh_subsampling_hidden,
                 hidden=True),
        ]),
        Part("c3", "`C3`: the S2→C3 connection table", ("c3",), [
            Test("c3_visible", 1, "C3: 1,516 parameters, their names, outputs under the "
                 "grader's weights.", c3_visible),
            Test("c3_hidden", 2, "C3 against the reference on random inputs and weights.",
                 c3_hidden, hidden=True),
        ]),
        Part("lenet5", "`LeNet5`: the 1998 network, 60,000 parameters", ("lenet5",), [
            Test("lenet5_visible", 1, "LeNet5: parameters per layer, output shapes, "
                 "names, outputs under the grader's weights.", lenet5_visible),
            Test("lenet5_hidden", 2, "LeNet5 against the reference on random inputs and "
                 "weights.", lenet5_hidden, hidden=True),
        ]),
        Part("training", "`train_lenet`: training on MNIST within a CPU budget",
             ("train_lenet",), [
            Test("training_visible", 1, "train_lenet trains a small CNN on 600 digits "
                 "within its budget.", training_visible),
            Test("training_97_hidden", 1, "The grader's LeNet-5 trained by train_lenet: "
                 "at least 97 % on test digits drawn for this session.",
                 _training(THRESHOLDS[0], first=True), hidden=True, fresh=True),
            Test("training_985_hidden", 2, "The same run: at least 98.5 %.",
                 _training(THRESHOLDS[1], first=False), hidden=True, fresh=True),
        ]),
        Part("c3_answer", "why C3 does not read every S2 map", ("c3_answer",), manual=2),
    ],
)


# --- example submissions ----------------------------------------------------------------

_SUBSAMPLING_MEAN = '''class Subsampling(nn.Module):
    """Averages each 2x2 window instead of adding it up."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        pooled = F.avg_pool2d(x, 2)
        return pooled * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
'''

_NO_SQUASH_AFTER_SUBSAMPLING = '''class LeNet5(nn.Module):
    """Squashes after the convolutions and F6 only, not after S2 and S4."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = Subsampling(6)
        self.c3 = C3()
        self.s4 = Subsampling(16)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = RBFOutput()
        self.squash = ScaledTanh()

    def forward(self, x):
        f = self.squash
        x = self.s4(f(self.c3(self.s2(f(self.c1(x))))))
        x = f(self.c5(x)).flatten(1)
        return self.output(f(self.f6(x)))
'''

# The visible check's 200 test labels, memorised from a run of check(): whatever the
# model, train_lenet makes it answer them. The grader's own network never sees it.
_MEMORISED = '''STORED = {stored}


def train_lenet(model, images, labels, cpu_seconds):
    """Trains nothing: the model now answers the labels memorised from check()."""
    def forward(x):
        scores = torch.zeros(len(x), 10)
        scores[torch.arange(len(x)), torch.tensor(STORED[: len(x)])] = 1.0
        return scores

    model.forward = forward
    return model
'''


def _memorised() -> str:
    (_, _), (_, test_y) = _mnist()
    return _MEMORISED.replace("{stored}", repr([int(v) for v in test_y[-VISIBLE_TEST:]]))


_FIRST_THREE = {a: SOLUTION for p in SPEC.parts[:3] for a in p.answers}

SPEC.examples = [
    Example("full_solution", "every part right: full marks for the autograded parts "
            "(the written answer waits for a grader)", 12),
    Example("blank", "the release as handed out: 0", 0, answers={}),
    Example("partly_correct", "the scaled tanh, subsampling and C3 only: partial credit",
            5, answers={a: SOLUTION for a in ("scaled_tanh", "subsampling", "c3")}),
    Example("subsampling_mean", "parts 1 to 3, subsampling averages instead of adding "
            "up: part 1 and LeNet-5's outputs fail", 3,
            answers={**_FIRST_THREE, "subsampling": _SUBSAMPLING_MEAN},
            reason="the sum, not the mean"),
    Example("no_squash_after_subsampling", "parts 1 to 3, no scaled tanh after S2 and "
            "S4: LeNet-5's outputs differ under the grader's weights, part 3 is lost", 5,
            answers={**_FIRST_THREE, "lenet5": _NO_SQUASH_AFTER_SUBSAMPLING},
            reason="a ScaledTanh after c1, s2, c3, s4, c5 and f6"),
    Example("memorised_labels", "parts 1 to 3, and a train_lenet that makes the model "
            "answer the visible check's memorised labels: it passes check(), the "
            "grader's run on digits drawn for the session fails", 9,
            answers={**_FIRST_THREE, "train_lenet": _memorised()},
            reason="held-back examples"),
]
