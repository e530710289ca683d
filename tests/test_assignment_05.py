"""Assignment 05_architectures: honest solutions in other styles earn full marks.

Each alternative below is graded by the trusted runner, sandboxed where this machine
can, with every test of the spec (the hidden experiment included). The module parts
fix only the names and what is computed, so these change everything else: modules
kept as attributes or built as `nn.Sequential` subclasses, functional calls on the
layers' weights, loops instead of unrolled code, a `DataLoader` for training.
"""

import pytest
import torch

from assignment_helpers import example_tests, failures, solution, trusted

NAME = "05_architectures"

# The spec's examples graded end to end, and plain nbgrader agreeing on one of them
test_each_example_earns_its_declared_score, test_plain_nbgrader_autograde_agrees = \
    example_tests(NAME)

torch.set_num_threads(1)

# Layers as attributes, activations and pooling as modules, a loop over the branches.
MODULES = {
    "inception": '''
class Inception(nn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.conv1x1 = nn.Conv2d(in_channels, ch1x1, kernel_size=1)
        self.reduce3x3 = nn.Conv2d(in_channels, ch3x3red, kernel_size=1)
        self.conv3x3 = nn.Conv2d(ch3x3red, ch3x3, kernel_size=3, padding=1)
        self.reduce5x5 = nn.Conv2d(in_channels, ch5x5red, kernel_size=1)
        self.conv5x5 = nn.Conv2d(ch5x5red, ch5x5, kernel_size=5, padding=2)
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.pool_proj = nn.Conv2d(in_channels, pool_proj, kernel_size=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        paths = [[self.conv1x1], [self.reduce3x3, self.conv3x3],
                 [self.reduce5x5, self.conv5x5], [self.pool, self.pool_proj]]
        outs = []
        for path in paths:
            y = x
            for layer in path:
                y = layer(y)
                if isinstance(layer, nn.Conv2d):
                    y = self.relu(y)
            outs.append(y)
        return torch.cat(outs, 1)
''',
    "basic_block": '''
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        needs = stride > 1 or inplanes != planes
        self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                        nn.BatchNorm2d(planes)) if needs else None

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)
''',
    "bottleneck": '''
class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False),
                                            nn.BatchNorm2d(out))

    def forward(self, x):
        y = x
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2)):
            y = self.relu(bn(conv(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))
''',
    "resnet18": '''
from collections import OrderedDict


class ResNet18(nn.Sequential):
    """An nn.Sequential with torchvision's names."""

    def __init__(self, num_classes=1000):
        def stage(inplanes, planes, stride):
            return nn.Sequential(BasicBlock(inplanes, planes, stride),
                                 BasicBlock(planes, planes))

        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(3, 64, 7, 2, 3, bias=False)),
            ("bn1", nn.BatchNorm2d(64)),
            ("relu", nn.ReLU()),
            ("maxpool", nn.MaxPool2d(3, 2, 1)),
            ("layer1", stage(64, 64, 1)),
            ("layer2", stage(64, 128, 2)),
            ("layer3", stage(128, 256, 2)),
            ("layer4", stage(256, 512, 2)),
            ("avgpool", nn.AdaptiveAvgPool2d(1)),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(512, num_classes)),
        ]))
''',
    "count_params": '''
def count_params(model):
    unique = {id(p): p for _, p in model.named_parameters()}
    return int(sum(p.numel() for p in unique.values()))
''',
    "count_macs": '''
import math


def count_macs(model, input_size):
    counts = []

    def conv_hook(module, inputs, output):
        counts.append(output.numel() * module.in_channels // module.groups
                      * math.prod(module.kernel_size))

    def linear_hook(module, inputs, output):
        counts.append(output.numel() * module.in_features)

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(*input_size))
    for handle in handles:
        handle.remove()
    return int(sum(counts))
''',
    "receptive_field": '''
def receptive_field(layers):
    if not layers:
        return []
    *rest, (kernel, stride, dilation) = layers
    before = receptive_field(rest)
    jump = 1
    for _, s, _ in rest:
        jump *= s
    return before + [(before[-1] if before else 1) + dilation * (kernel - 1) * jump]
''',
    "small_block": '''
class SmallBlock(nn.Module):
    def __init__(self, width, residual=True):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + x
        return self.relu(out)
''',
    "small_resnet": '''
class SmallResNet(nn.Module):
    def __init__(self, num_blocks, residual=True, width=16, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = nn.Sequential()
        for i in range(num_blocks):
            self.layer1.append(SmallBlock(width, residual))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.layer1(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))
''',
    "train_briefly": '''
def train_briefly(model, images, labels, epochs=4, batch_size=64, lr=0.05, seed=0):
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, labels), batch_size=batch_size,
        shuffle=True, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    history = []
    for epoch in range(epochs):
        losses = []
        for x, y in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            losses.extend([loss.item()] * len(y))
        history.append(sum(losses) / len(losses))
    return history
''',
    "plain_vs_residual": '''
def plain_vs_residual(images, labels, num_blocks=8, epochs=4, seed=0):
    losses = {}
    for kind in ("plain", "residual"):
        torch.manual_seed(seed)
        net = SmallResNet(num_blocks, residual=kind == "residual")
        losses[kind] = float(train_briefly(net, images, labels, epochs=epochs,
                                           seed=seed)[-1])
    return losses["plain"], losses["residual"]
''',
}

# Functional forward passes on the layers' own weights; loops that build the stages.
FUNCTIONAL = {
    "inception": '''
class Inception(nn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        specs = {"conv1x1": (in_channels, ch1x1, 1), "reduce3x3": (in_channels, ch3x3red, 1),
                 "conv3x3": (ch3x3red, ch3x3, 3), "reduce5x5": (in_channels, ch5x5red, 1),
                 "conv5x5": (ch5x5red, ch5x5, 5), "pool_proj": (in_channels, pool_proj, 1)}
        for name, (cin, cout, k) in specs.items():
            setattr(self, name, nn.Conv2d(cin, cout, k, padding=k // 2))

    def _conv(self, layer, x):
        return F.relu(F.conv2d(x, layer.weight, layer.bias, padding=layer.padding))

    def forward(self, x):
        a = self._conv(self.conv1x1, x)
        b = self._conv(self.conv3x3, self._conv(self.reduce3x3, x))
        c = self._conv(self.conv5x5, self._conv(self.reduce5x5, x))
        pooled = F.pad(x, (1, 1, 1, 1), value=float("-inf")).unfold(2, 3, 1).unfold(3, 3, 1)
        d = self._conv(self.pool_proj, pooled.amax(dim=(-1, -2)))
        return torch.cat((a, b, c, d), dim=1)
''',
    "basic_block": '''
def _bn(layer, x):
    return F.batch_norm(x, layer.running_mean, layer.running_var, layer.weight, layer.bias,
                        layer.training, layer.momentum, layer.eps)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(inplanes, planes, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, bias=False),
                                            nn.BatchNorm2d(planes))
        else:
            self.downsample = None

    def forward(self, x):
        h = F.relu(_bn(self.bn1, F.conv2d(x, self.conv1.weight, stride=self.stride,
                                          padding=1)))
        h = _bn(self.bn2, F.conv2d(h, self.conv2.weight, padding=1))
        if self.downsample is None:
            skip = x
        else:
            conv, bn = self.downsample
            skip = _bn(bn, F.conv2d(x, conv.weight, stride=self.stride))
        return F.relu(h + skip)
''',
    "bottleneck": '''
class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.stride = stride
        for i, (cin, cout, k) in enumerate([(inplanes, planes, 1), (planes, planes, 3),
                                            (planes, 4 * planes, 1)], start=1):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, k, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(cout))
        self.downsample = None
        if stride != 1 or inplanes != 4 * planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, 4 * planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(4 * planes))

    def forward(self, x):
        h = F.relu(self.bn1(F.conv2d(x, self.conv1.weight, stride=self.stride)))
        h = F.relu(self.bn2(F.conv2d(h, self.conv2.weight, padding=1)))
        h = self.bn3(F.conv2d(h, self.conv3.weight))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))
''',
    "resnet18": '''
class ResNet18(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        widths = [64, 64, 128, 256, 512]
        for i in range(1, 5):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", nn.Sequential(
                BasicBlock(widths[i - 1], widths[i], stride), BasicBlock(widths[i], widths[i])))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
''',
    "count_params": '''
def count_params(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters())
''',
    "count_macs": '''
def count_macs(model, input_size):
    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            per_output = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
        elif isinstance(module, nn.Linear):
            per_output = module.weight.shape[1]
        else:
            return
        total[0] += int(np.prod(output.shape)) * per_output

    handles = []
    model.apply(lambda m: handles.append(m.register_forward_hook(hook)))
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(input_size))
    finally:
        for h in handles:
            h.remove()
    return total[0]
''',
    "receptive_field": '''
def receptive_field(layers):
    k, s, d = (np.array([layer[i] for layer in layers], dtype=np.int64) for i in range(3))
    jumps = np.concatenate([[1], np.cumprod(s)[:-1]])
    return [int(v) for v in 1 + np.cumsum(d * (k - 1) * jumps)]
''',
    "small_block": MODULES["small_block"],
    "small_resnet": '''
class SmallResNet(nn.Module):
    def __init__(self, num_blocks, residual=True, width=16, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = nn.Sequential(*(SmallBlock(width, residual) for _ in range(num_blocks)))
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = F.relu(F.batch_norm(self.conv1(x), self.bn1.running_mean, self.bn1.running_var,
                                self.bn1.weight, self.bn1.bias, self.training, 0.1, 1e-5))
        x = self.layer1(x)
        return F.linear(x.mean((2, 3)), self.fc.weight, self.fc.bias)
''',
    "train_briefly": MODULES["train_briefly"],
    "plain_vs_residual": MODULES["plain_vs_residual"],
}


def _loops():
    """The solution, with the counters and the receptive field as plain nested loops."""
    answers = dict(solution(NAME))
    answers["receptive_field"] = '''
def receptive_field(layers):
    sizes = []
    for i in range(len(layers)):
        size = 1
        for j in range(i + 1):
            jump = 1
            for _, s, _ in layers[:j]:
                jump = jump * s
            k, _, d = layers[j]
            size = size + d * (k - 1) * jump
        sizes.append(size)
    return sizes
'''
    answers["count_params"] = '''
def count_params(model):
    seen, total = set(), 0
    for module in model.modules():
        for p in module.parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
    return total
'''
    return answers


ALTERNATIVES = {"modules": MODULES, "functional": FUNCTIONAL, "loops": _loops()}


@pytest.mark.parametrize("style", sorted(ALTERNATIVES))
def test_honest_solutions_in_other_styles_earn_full_marks(style):
    seed = sorted(ALTERNATIVES).index(style) + 11  # a different session for each
    result = trusted(NAME, ALTERNATIVES[style], session_seed=seed)
    assert not failures(result), failures(result)
    assert result.score == 17
