"""Assignment 04_lenet: honest solutions in other styles earn full marks; the given cell
is what the grader uses; plausible wrong answers lose the tests they should.

The notebook fixes only the names, the shapes and what is computed, so the three
alternatives change everything else:

- ``functional``: tensor expressions; subsampling as a grouped ``F.conv2d`` whose kernel
  is the coefficient; C3 as one convolution with a zero-masked (16, 6, 5, 5) kernel;
  torch's default initialisation; manual batching from a permutation, Adam at 1.5e-3 in
  batches of 50, a cosine schedule.
- ``sequential``: ``ScaledTanh`` a subclass of ``nn.Tanh``; subsampling by ``unfold``; C3
  by ``index_select``; ``LeNet5`` an ``nn.Sequential`` of named layers; a ``DataLoader``,
  Adam at 1.5e-3 in batches of 50, the rate falling linearly (``LambdaLR``).
- ``grouped``: tanh through the sigmoid; subsampling by reshaping; C3 as one grouped
  convolution per fan-in; layers set in a loop, LeCun's normal initialisation, a forward
  pass that loops over them; SGD with Nesterov momentum at 3e-3 in batches of 32, a
  tenth of the rate for the last third of the budget.

Each style is graded by the trusted runner. The training that earns three of the twelve
points uses the grader's 90 s of CPU per run, so it runs for one style (``grouped``, the
furthest from the solution's Adam; the full solution's run is among the graded
examples); the rest of the grading (training_visible included) runs for every style in
the quick tests.
"""

import sys
from dataclasses import replace

import nbformat
import numpy as np
import pytest
import torch

from assignment_helpers import (example_tests, failures, filled_release, solution,
                                solution_namespace, trusted)
from cnn_course.course.grading.sandbox import detect
from cnn_course.course.grading.trusted import run_trusted
from cnn_course.course.spec import load_spec
from conftest import ROOT

NAME = "04_lenet"

# The spec's examples graded end to end, and plain nbgrader agreeing on one of them
test_each_example_earns_its_declared_score, test_plain_nbgrader_autograde_agrees = \
    example_tests(NAME)

FULL_MARKS = 12  # the autograded points; the written answer (2) waits for a grader
# The two thresholds share one training run of TRAIN_CPU = 90 s (the slow test).
LONG_TRAINING = ("training_97_hidden", "training_985_hidden")
torch.set_num_threads(1)


def trusted_quick(answers: dict[str, str], session_seed: int):
    """The trusted verdicts on every test but the two that share the 90 s training."""
    spec = load_spec(ROOT / "solutions", NAME)
    parts = [replace(p, tests=[t for t in p.tests if t.id not in LONG_TRAINING])
             for p in spec.parts]
    quick = replace(spec, parts=parts)
    assert len(quick.tests) == len(spec.tests) - 2
    return run_trusted(quick, filled_release(NAME, answers), sandboxed=detect().sandboxed,
                       total_cpu=300, session_seed=session_seed)


def quick_marks() -> float:
    spec = load_spec(ROOT / "solutions", NAME)
    return sum(t.points for t in spec.tests if t.id not in LONG_TRAINING)


# --- style 1: functional ----------------------------------------------------------------

FUNCTIONAL = {
    "scaled_tanh": '''
class ScaledTanh(nn.Module):
    def forward(self, x):
        return torch.tanh(x.mul(2 / 3)).mul(1.7159)
''',
    "subsampling": '''
class Subsampling(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        # one 2x2 kernel per channel, each of its taps the channel's coefficient (in x's
        # dtype: check() feeds float64 inputs to a module made in float32)
        kernel = self.weight.view(-1, 1, 1, 1).expand(-1, 1, 2, 2).to(x.dtype)
        return F.conv2d(x, kernel, self.bias.to(x.dtype), stride=2, groups=x.shape[1])
''',
    "c3": '''
class C3(nn.Module):
    def __init__(self):
        super().__init__()
        self.maps = nn.ModuleList()
        for inputs in C3_TABLE:
            self.maps.append(nn.Conv2d(len(inputs), 1, kernel_size=5))

    def forward(self, x):
        rows = []
        for conv, inputs in zip(self.maps, C3_TABLE):
            row = conv.weight.new_zeros(6, 5, 5)
            rows.append(row.index_copy(0, torch.tensor(inputs), conv.weight[0]))
        kernel = torch.stack(rows)  # (16, 6, 5, 5), zero where the table has no link
        return F.conv2d(x, kernel, torch.cat([conv.bias for conv in self.maps]))
''',
    "lenet5": '''
class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = Subsampling(6)
        self.c3 = C3()
        self.s4 = Subsampling(16)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = RBFOutput()  # torch's default initialisation for the rest

    def forward(self, x):
        f = ScaledTanh()
        for layer in (self.c1, self.s2, self.c3, self.s4, self.c5):
            x = f(layer(x))
        return self.output(f(self.f6(x.reshape(len(x), -1))))
''',
    "train_lenet": '''
def train_lenet(model, images, labels, cpu_seconds):
    """Manual batching: a permutation per epoch, a position in it; Adam, batches of 50."""
    start = time.process_time()
    base_lr, batch_size = 1.5e-3, 50
    optimizer = torch.optim.Adam(model.parameters(), lr=base_lr)
    model.train()
    order, position = torch.randperm(len(images)), 0
    while (used := time.process_time() - start) < cpu_seconds:
        if position >= len(order):
            order, position = torch.randperm(len(images)), 0
        batch = order[position : position + batch_size]
        position += batch_size
        optimizer.param_groups[0]["lr"] = base_lr * (1 + math.cos(math.pi * used / cpu_seconds)) / 2
        optimizer.zero_grad()
        F.cross_entropy(model(images[batch]), labels[batch]).backward()
        optimizer.step()
    return model
''',
}

# --- style 2: nn.Sequential and a DataLoader --------------------------------------------

SEQUENTIAL = {
    "scaled_tanh": '''
class ScaledTanh(nn.Tanh):
    """nn.Tanh, scaled in and out."""

    def forward(self, x):
        return 1.7159 * super().forward(x * (2.0 / 3.0))
''',
    "subsampling": '''
class Subsampling(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        windows = x.unfold(2, 2, 2).unfold(3, 2, 2)  # (N, C, H // 2, W // 2, 2, 2)
        return windows.sum(dim=(-2, -1)) * self.weight[:, None, None] + self.bias[:, None, None]
''',
    "c3": '''
class C3(nn.Module):
    def __init__(self):
        super().__init__()
        self.maps = nn.ModuleList([nn.Conv2d(len(t), 1, 5) for t in C3_TABLE])
        self.inputs = [torch.tensor(t) for t in C3_TABLE]  # a plain attribute, not state

    def forward(self, x):
        return torch.cat([conv(x.index_select(1, i)) for conv, i in zip(self.maps, self.inputs)],
                         dim=1)
''',
    "lenet5": '''
from collections import OrderedDict


class LeNet5(nn.Sequential):
    def __init__(self):
        super().__init__(OrderedDict([
            ("c1", nn.Conv2d(1, 6, 5)), ("tanh1", ScaledTanh()),
            ("s2", Subsampling(6)), ("tanh2", ScaledTanh()),
            ("c3", C3()), ("tanh3", ScaledTanh()),
            ("s4", Subsampling(16)), ("tanh4", ScaledTanh()),
            ("c5", nn.Conv2d(16, 120, 5)), ("tanh5", ScaledTanh()),
            ("flatten", nn.Flatten()),
            ("f6", nn.Linear(120, 84)), ("tanh6", ScaledTanh()),
            ("output", RBFOutput()),
        ]))
''',
    "train_lenet": '''
def train_lenet(model, images, labels, cpu_seconds):
    """A DataLoader; Adam at 1.5e-3 in batches of 50, the rate falling linearly to 0."""
    start = time.process_time()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels),
                                         batch_size=50, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.5e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda _: max(0.0, 1 - (time.process_time() - start) / cpu_seconds))
    model.train()
    while True:
        for x, y in loader:
            if time.process_time() - start >= cpu_seconds:
                return model
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            schedule.step()
''',
}

# --- style 3: grouped convolutions, loops over the layers, SGD --------------------------

GROUPED = {
    "scaled_tanh": '''
class ScaledTanh(nn.Module):
    """tanh(z) = 2 sigmoid(2z) - 1."""

    def forward(self, x):
        return 1.7159 * (2 * torch.sigmoid(4 * x / 3) - 1)
''',
    "subsampling": '''
class Subsampling(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        N, C, H, W = x.shape
        x = x[:, :, : H // 2 * 2, : W // 2 * 2]  # an odd last row or column dropped
        summed = x.reshape(N, C, H // 2, 2, W // 2, 2).sum(dim=(3, 5))
        return torch.addcmul(self.bias.view(1, C, 1, 1), summed, self.weight.view(1, C, 1, 1))
''',
    "c3": '''
class C3(nn.Module):
    def __init__(self):
        super().__init__()
        self.maps = nn.ModuleList()
        for inputs in C3_TABLE:
            self.maps.append(nn.Conv2d(len(inputs), 1, 5))

    def forward(self, x):
        """One grouped convolution for the maps of each fan-in (3, 4 and 6 inputs)."""
        outputs = [None] * len(C3_TABLE)
        for size in sorted({len(t) for t in C3_TABLE}):
            js = [j for j, t in enumerate(C3_TABLE) if len(t) == size]
            gathered = x[:, [i for j in js for i in C3_TABLE[j]]]  # (N, len(js) * size, H, W)
            weight = torch.cat([self.maps[j].weight for j in js])  # (len(js), size, 5, 5)
            bias = torch.cat([self.maps[j].bias for j in js])
            out = F.conv2d(gathered, weight, bias, groups=len(js))
            for k, j in enumerate(js):
                outputs[j] = out[:, k : k + 1]
        return torch.cat(outputs, dim=1)
''',
    "lenet5": '''
class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.order = ["c1", "s2", "c3", "s4", "c5", "f6"]
        layers = [nn.Conv2d(1, 6, 5), Subsampling(6), C3(), Subsampling(16),
                  nn.Conv2d(16, 120, 5), nn.Linear(120, 84)]
        for name, layer in zip(self.order, layers):
            setattr(self, name, layer)
        self.output = RBFOutput()
        self.squash = ScaledTanh()
        for module in self.modules():  # LeCun's normal initialisation
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, std=module.weight[0].numel() ** -0.5)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        for name in self.order:
            if name == "f6":
                x = torch.flatten(x, 1)
            x = self.squash(getattr(self, name)(x))
        return self.output(x)
''',
    "train_lenet": '''
def train_lenet(model, images, labels, cpu_seconds):
    """SGD with Nesterov momentum, batches of 32; the rate divided by 10 for the last third."""
    start = time.process_time()
    optimizer = torch.optim.SGD(model.parameters(), lr=3e-3, momentum=0.9, nesterov=True)
    model.train()
    epoch = 0
    while True:
        generator = torch.Generator().manual_seed(epoch)
        order = torch.randperm(len(images), generator=generator)
        for i in range(0, len(order), 32):
            used = time.process_time() - start
            if used >= cpu_seconds:
                return model
            for group in optimizer.param_groups:
                group["lr"] = 3e-3 if used < 2 * cpu_seconds / 3 else 3e-4
            index = order[i : i + 32]
            loss = F.cross_entropy(model(images[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        epoch += 1
''',
}

STYLES = {"functional": FUNCTIONAL, "sequential": SEQUENTIAL, "grouped": GROUPED}


def _answers(style: str) -> dict[str, str]:
    return {k: v.strip("\n") + "\n" for k, v in STYLES[style].items()}


@pytest.mark.parametrize("style", STYLES)
def test_honest_solutions_in_other_styles_earn_full_marks(style):
    """Every test but the 90 s training: the modules and training_visible."""
    assert set(STYLES[style]) == set(solution(NAME)) - {"c3_answer"}
    result = trusted_quick(_answers(style), session_seed=sorted(STYLES).index(style) + 41)
    assert not failures(result), failures(result)
    assert result.score == quick_marks() == FULL_MARKS - 3


@pytest.mark.slow
def test_an_honest_solution_in_another_style_earns_full_marks_graded():
    """The whole trusted check, the grader's 90 s training and both thresholds included,
    for the style furthest from the solution (SGD with Nesterov momentum, where the
    solution uses Adam). One style only, because each graded style spends the whole
    training budget (90 s of CPU); every style's modules and visible training check
    are graded by the quick test above."""
    style = "grouped"
    result = trusted(NAME, _answers(style), session_seed=sorted(STYLES).index(style) + 41)
    assert not failures(result), failures(result)
    assert result.score == FULL_MARKS


# --- the given cell is what the grader uses ---------------------------------------------

def _spec_module():
    load_spec(ROOT / "solutions", NAME)
    return sys.modules[f"cnn_course_spec_{NAME}"]


def test_the_given_cell_is_what_the_grader_uses():
    """The notebook's prepare_digits, C3_TABLE and RBF prototypes are the grader's, in
    the release and the solution alike."""
    spec = _spec_module()
    ns = solution_namespace(NAME)
    grader: dict = {}
    exec(spec.IMPORTS + spec.PREPARE, grader)  # noqa: S102
    digits = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    mine, theirs = ns["prepare_digits"](digits), grader["prepare_digits"](digits)
    assert mine.dtype == theirs.dtype == torch.float32 and mine.shape == (5, 1, 32, 32)
    torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    assert ns["C3_TABLE"] == spec.C3_TABLE
    torch.testing.assert_close(ns["RBFOutput"]().prototypes, spec.rbf_prototypes(),
                               rtol=0, atol=0)

    def given(path):
        nb = nbformat.read(path, as_version=4)
        return [c.source for c in nb.cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "lenet_given"]

    released = given(ROOT / "assignments" / NAME / f"{NAME}.ipynb")
    assert released == given(ROOT / "solutions" / NAME / f"{NAME}.ipynb") and released


def test_the_graders_lenet_is_the_notebooks():
    """train_lenet trains the grader's LeNet-5, not the student's: the two must be the
    same network, names and function, so that the student's choices carry over."""
    spec = _spec_module()
    ns = solution_namespace(NAME)
    grader: dict = {}
    exec(spec.IMPORTS + spec.GRADER_LENET, grader)  # noqa: S102
    theirs = grader["_GraderLeNet5"](spec.C3_TABLE, spec.rbf_prototypes().numpy()).double()
    mine = ns["LeNet5"]().double()
    assert sorted((k, v.shape) for k, v in theirs.state_dict().items()) == \
        sorted((k, v.shape) for k, v in mine.state_dict().items())
    theirs.load_state_dict(mine.state_dict(), strict=True)
    x = torch.randn(3, 1, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), mine(x), rtol=1e-10, atol=1e-10)


# --- plausible wrong answers lose the tests they should ---------------------------------
# (the spec's examples already cover the mean for the sum, no squashing after S2 and S4,
# and memorised labels)

# C3 with the right parameters and names that reads the first S2 maps, not the table's.
C3_FIRST_MAPS = '''
class C3(nn.Module):
    def __init__(self):
        super().__init__()
        self.maps = nn.ModuleList(nn.Conv2d(len(inputs), 1, 5) for inputs in C3_TABLE)

    def forward(self, x):
        return torch.cat([conv(x[:, : len(inputs)])
                          for conv, inputs in zip(self.maps, C3_TABLE)], dim=1)
'''

# The "modern" LeNet's C5: a Linear(16 * 5 * 5, 120) on the flattened S4. The same
# 48,120 parameters and the same function class, not the notebook's nn.Conv2d(16, 120, 5).
C5_LINEAR = '''
class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = Subsampling(6)
        self.c3 = C3()
        self.s4 = Subsampling(16)
        self.c5 = nn.Linear(16 * 5 * 5, 120)
        self.f6 = nn.Linear(120, 84)
        self.output = RBFOutput()
        self.squash = ScaledTanh()

    def forward(self, x):
        f = self.squash
        x = f(self.s4(f(self.c3(f(self.s2(f(self.c1(x))))))))
        x = f(self.c5(x.flatten(1)))
        return self.output(f(self.f6(x)))
'''

WRONG = {
    "c3_first_maps": ({"c3": C3_FIRST_MAPS},
                      {"c3_visible", "c3_hidden", "lenet5_visible", "lenet5_hidden"}),
    "c5_linear": ({"lenet5": C5_LINEAR}, {"lenet5_visible", "lenet5_hidden"}),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_plausible_wrong_answers_lose_the_tests_they_should(case):
    changed, lost = WRONG[case]
    answers = {**solution(NAME), **changed}
    result = trusted_quick(answers, session_seed=3)
    assert set(failures(result)) == lost, failures(result)
    spec = load_spec(ROOT / "solutions", NAME)
    assert result.score == quick_marks() - sum(t.points for t in spec.tests if t.id in lost)


# A LeNet5 that applies c1's, c5's and f6's weights with F.conv2d and F.linear: the
# notebook's names, the reference's outputs. The output-shapes check records shapes with
# forward hooks on c1 ... output, which never fire for layers used only for their weights.



def test_the_notebook_states_the_graders_numbers():
    """Part 4's text repeats the spec's budget, thresholds and data: checked against it."""
    import importlib.util

    from conftest import ROOT

    path = ROOT / "solutions" / NAME / "spec.py"
    module_spec = importlib.util.spec_from_file_location("spec_04", path)
    spec_module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(spec_module)
    text = " ".join("".join(c.source) for c in
                    nbformat.read(ROOT / "assignments" / NAME / f"{NAME}.ipynb", 4).cells)
    text = " ".join(text.split())
    low, high = spec_module.THRESHOLDS
    for phrase in (f"cpu_seconds={spec_module.TRAIN_CPU}",
                   f"{spec_module.TRAIN_CPU} s of CPU time plus {spec_module.TRAIN_SLACK} s",
                   f"{spec_module.TEST_DIGITS:,} test digits", "60,000 training digits",
                   f"At least {low:.0%} earns", f"at least {high * 100:g} %"):
        assert phrase.replace("%", " %").replace("  ", " ") in text or phrase in text, phrase
