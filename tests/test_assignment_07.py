"""Assignment 07_segmentation: honest answers in other styles earn full marks; the
held-back masks never reach the sandbox.

Each alternative is graded by the trusted runner (sandboxed where this machine can),
with every test of the spec, the numpy parts' hidden cases with torch out of reach and
the training on fresh shapes included. They change everything the assignment leaves
open: the transposed convolution as a correlation of the zero-dilated input with the
flipped kernel, with index arrays and ``np.add.at``, or as plain loops; unpooling
through ``np.kron``, fancy indexing or loops; U-Nets whose double convolutions are
``nn.Sequential`` subclasses or modules built with ``add_module``, crops by ``F.pad``
with negative padding or ``narrow``; IoU from a confusion matrix; other training loops.
"""

import base64
import json

import numpy as np
import pytest
import torch
from nbformat.v4 import new_notebook

from assignment_helpers import example_tests, LABEL_HUNTER, failures, solution, trusted
from conftest import ROOT
from cnn_course.course.grading.trusted import build_job
from cnn_course.course.spec import load_spec

NAME = "07_segmentation"

# The spec's examples graded end to end, and plain nbgrader agreeing on one of them
test_each_example_earns_its_declared_score, test_plain_nbgrader_autograde_agrees = \
    example_tests(NAME)

torch.set_num_threads(1)

# The decks' other view: dilate the input with zeros, pad by HH - 1 - pad, correlate
# with the flipped kernel. Unpooling by loops and np.kron; crops by negative F.pad.
DILATED = {
    "conv_transpose2d_forward": '''
from numpy.lib.stride_tricks import sliding_window_view


def conv_transpose2d_forward(x, w, b, stride=1, pad=0):
    N, C, H, W = x.shape
    _, F_, HH, WW = w.shape
    dilated = np.zeros((N, C, (H - 1) * stride + 1, (W - 1) * stride + 1))
    dilated[:, :, ::stride, ::stride] = x
    ph, pw = HH - 1 - pad, WW - 1 - pad
    padded = np.pad(dilated, ((0, 0), (0, 0), (max(ph, 0),) * 2, (max(pw, 0),) * 2))
    if ph < 0:
        padded = padded[:, :, -ph:ph]
    if pw < 0:
        padded = padded[:, :, :, -pw:pw]
    flipped = w[:, :, ::-1, ::-1]  # (C, F, HH, WW)
    windows = sliding_window_view(padded, (HH, WW), axis=(2, 3))  # (N, C, H', W', HH, WW)
    return np.einsum("nchwpq,cfpq->nfhw", windows, flipped) + b[None, :, None, None]
''',
    "max_pool2d_with_indices": '''
def max_pool2d_with_indices(x, kernel=2):
    N, C, H, W = x.shape
    Ho, Wo = H // kernel, W // kernel
    out = np.zeros((N, C, Ho, Wo))
    idx = np.zeros((N, C, Ho, Wo), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    win = x[n, c, i * kernel:(i + 1) * kernel, j * kernel:(j + 1) * kernel]
                    p, q = np.unravel_index(np.argmax(win), win.shape)
                    out[n, c, i, j] = win[p, q]
                    idx[n, c, i, j] = (i * kernel + p) * W + j * kernel + q
    return out, idx
''',
    "max_unpool2d": '''
def max_unpool2d(x, indices, output_size):
    N, C, h, w = x.shape
    H, W = output_size
    out = np.zeros((N, C, H, W))
    for n in range(N):
        for c in range(C):
            for i in range(h):
                for j in range(w):
                    r, s = divmod(int(indices[n, c, i, j]), W)
                    out[n, c, r, s] = x[n, c, i, j]
    return out
''',
    "bed_of_nails": '''
def bed_of_nails(x, stride=2):
    nail = np.zeros((1, 1, stride, stride))
    nail[0, 0, 0, 0] = 1
    return np.kron(x, nail)
''',
    "unet": '''
class DoubleConv(nn.Module):
    def __init__(self, in_channels, out_channels, padding, batch_norm):
        super().__init__()
        self.add_module("conv1", nn.Conv2d(in_channels, out_channels, 3, 1, padding,
                                           bias=not batch_norm))
        self.add_module("bn1", nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity())
        self.add_module("conv2", nn.Conv2d(out_channels, out_channels, 3, 1, padding,
                                           bias=not batch_norm))
        self.add_module("bn2", nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity())
        self.relu = nn.ReLU()

    def forward(self, x):
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2)):
            x = self.relu(bn(conv(x)))
        return x


def crop_like(skip, x):
    dh, dw = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
    return F.pad(skip, (-(dw // 2), -(dw - dw // 2), -(dh // 2), -(dh - dh // 2)))


class UNet(nn.Module):
    def __init__(self, num_classes=2, in_channels=1, base_channels=64, depth=4,
                 padding="valid", batch_norm=False):
        super().__init__()
        p = {"valid": 0, "same": 1}[padding]
        c = [base_channels << i for i in range(depth + 1)]
        self.down = nn.ModuleList([DoubleConv(in_channels if i == 0 else c[i - 1], c[i],
                                              p, batch_norm) for i in range(depth + 1)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList([nn.ConvTranspose2d(c[i + 1], c[i], 2, 2)
                                 for i in reversed(range(depth))])
        self.up_conv = nn.ModuleList([DoubleConv(c[i + 1], c[i], p, batch_norm)
                                      for i in reversed(range(depth))])
        self.head = nn.Conv2d(c[0], num_classes, kernel_size=1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            if i:
                skips.append(x)
                x = self.pool(x)
            x = block(x)
        for up, block in zip(self.up, self.up_conv):
            x = up(x)
            x = block(torch.cat([crop_like(skips.pop(), x), x], 1))
        return self.head(x)
''',
    "iou": '''
def iou(pred, target, num_classes):
    """From the confusion matrix."""
    t = np.asarray(target).ravel().astype(int)
    p = np.asarray(pred).ravel().astype(int)
    cm = np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(
        num_classes, num_classes)
    both = np.diag(cm).astype(float)
    either = cm.sum(0) + cm.sum(1) - both
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(either > 0, both / either, np.nan)
    return per, float(np.nanmean(per))
''',
    "train_unet": '''
def train_unet(images, masks, steps=300):
    """Shuffled passes over the data instead of random batches."""
    torch.manual_seed(3)
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255 - 0.5) / 0.25
    y = torch.from_numpy(np.asarray(masks, dtype=np.int64))
    net = UNet(4, 3, 16, 2, "same", True)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.01, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor([0.2, 1.0, 1.0, 1.0]))
    net.train()
    done = 0
    while done < steps:
        for batch in torch.randperm(len(x)).split(16):
            if done == steps:
                break
            opt.zero_grad()
            loss_fn(net(x[batch]), y[batch]).backward()
            opt.step()
            sched.step()
            done += 1
    return net
''',
}

# Index arrays: np.add.at, strided windows, flat fancy indexing; nn.Sequential blocks.
INDEXED = {
    "conv_transpose2d_forward": '''
def conv_transpose2d_forward(x, w, b, stride=1, pad=0):
    N, C, H, W = x.shape
    _, F_, HH, WW = w.shape
    Hf, Wf = (H - 1) * stride + HH, (W - 1) * stride + WW
    # contributions[n, f, i, j, p, q] lands at (i*stride + p, j*stride + q)
    contributions = np.einsum("ncij,cfpq->nfijpq", x, w)
    rows = (np.arange(H)[:, None, None, None] * stride + np.arange(HH)[None, None, :, None])
    cols = (np.arange(W)[None, :, None, None] * stride + np.arange(WW)[None, None, None, :])
    rows, cols = np.broadcast_to(rows, (H, W, HH, WW)), np.broadcast_to(cols, (H, W, HH, WW))
    full = np.zeros((N, F_, Hf, Wf))
    np.add.at(full, (slice(None), slice(None), rows, cols), contributions)
    return full[:, :, pad:Hf - pad, pad:Wf - pad] + b.reshape(1, -1, 1, 1)
''',
    "max_pool2d_with_indices": '''
from numpy.lib.stride_tricks import sliding_window_view


def max_pool2d_with_indices(x, kernel=2):
    N, C, H, W = x.shape
    win = sliding_window_view(x, (kernel, kernel), axis=(2, 3))[:, :, ::kernel, ::kernel]
    flat = win.reshape(*win.shape[:4], -1)
    arg = flat.argmax(-1)
    i = np.arange(win.shape[2]).reshape(1, 1, -1, 1)
    j = np.arange(win.shape[3]).reshape(1, 1, 1, -1)
    return flat.max(-1), (i * kernel + arg // kernel) * W + j * kernel + arg % kernel
''',
    "max_unpool2d": '''
def max_unpool2d(x, indices, output_size):
    N, C = x.shape[:2]
    out = np.zeros((N * C, output_size[0] * output_size[1]))
    plane = np.repeat(np.arange(N * C), x[0, 0].size)
    out[plane, np.asarray(indices).ravel()] = np.asarray(x).ravel()
    return out.reshape(N, C, *output_size)
''',
    "bed_of_nails": '''
def bed_of_nails(x, stride=2):
    N, C, H, W = x.shape
    out = np.zeros((N, C, H, stride, W, stride))
    out[:, :, :, 0, :, 0] = x
    return out.reshape(N, C, H * stride, W * stride)
''',
    "unet": '''
from collections import OrderedDict


class DoubleConv(nn.Sequential):
    def __init__(self, cin, cout, pad, bn):
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(cin, cout, 3, padding=pad, bias=not bn)),
            ("bn1", nn.BatchNorm2d(cout) if bn else nn.Identity()),
            ("relu1", nn.ReLU(inplace=True)),
            ("conv2", nn.Conv2d(cout, cout, 3, padding=pad, bias=not bn)),
            ("bn2", nn.BatchNorm2d(cout) if bn else nn.Identity()),
            ("relu2", nn.ReLU(inplace=True)),
        ]))


class UNet(nn.Module):
    def __init__(self, num_classes=2, in_channels=1, base_channels=64, depth=4,
                 padding="valid", batch_norm=False):
        super().__init__()
        pad = 1 if padding == "same" else 0
        widths = [base_channels * 2**k for k in range(depth + 1)]
        ins = [in_channels] + widths[:-1]
        self.down = nn.ModuleList(DoubleConv(a, b, pad, batch_norm)
                                  for a, b in zip(ins, widths))
        self.up = nn.ModuleList()
        self.up_conv = nn.ModuleList()
        for width in widths[-2::-1]:
            self.up.append(nn.ConvTranspose2d(2 * width, width, kernel_size=2, stride=2))
            self.up_conv.append(DoubleConv(2 * width, width, pad, batch_norm))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        features = []
        for block in self.down[:-1]:
            x = block(x)
            features.append(x)
            x = F.max_pool2d(x, kernel_size=2, stride=2)
        x = self.down[-1](x)
        for up, conv, skip in zip(self.up, self.up_conv, features[::-1]):
            x = up(x)
            dh, dw = (skip.shape[2] - x.shape[2]) // 2, (skip.shape[3] - x.shape[3]) // 2
            skip = skip.narrow(2, dh, x.shape[2]).narrow(3, dw, x.shape[3])
            x = conv(torch.cat((skip, x), dim=1))
        return self.head(x)
''',
    "iou": '''
def iou(pred, target, num_classes):
    """In torch, per class."""
    p, t = torch.as_tensor(np.asarray(pred)), torch.as_tensor(np.asarray(target))
    per = torch.full((num_classes,), float("nan"), dtype=torch.float64)
    for c in range(num_classes):
        inter = ((p == c) & (t == c)).sum()
        union = ((p == c) | (t == c)).sum()
        if union > 0:
            per[c] = inter / union
    return per, per.nanmean().item()
''',
    "segment": '''
def segment(model, images):
    model.train(False)
    x = torch.tensor(images, dtype=torch.float32).div(255).sub(0.5).div(0.25)
    with torch.inference_mode():
        scores = model(x)
    return scores.argmax(1).to(torch.int32).numpy()
''',
}

# Loops for the numpy parts; the solution's U-Net and training.
LOOPS = {
    "conv_transpose2d_forward": '''
def conv_transpose2d_forward(x, w, b, stride=1, pad=0):
    N, C, H, W = x.shape
    _, F, HH, WW = w.shape
    Ho, Wo = (H - 1) * stride - 2 * pad + HH, (W - 1) * stride - 2 * pad + WW
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            out[n, f] += b[f]
            for c in range(C):
                for i in range(H):
                    for j in range(W):
                        for p in range(HH):
                            for q in range(WW):
                                r, s = i * stride + p - pad, j * stride + q - pad
                                if 0 <= r < Ho and 0 <= s < Wo:
                                    out[n, f, r, s] += x[n, c, i, j] * w[c, f, p, q]
    return out
''',
    "bed_of_nails": '''
def bed_of_nails(x, stride=2):
    N, C, H, W = x.shape
    out = np.zeros((N, C, H * stride, W * stride))
    for i in range(H):
        for j in range(W):
            out[:, :, i * stride, j * stride] = x[:, :, i, j]
    return out
''',
    "iou": '''
def iou(pred, target, num_classes):
    pred, target = np.ravel(pred), np.ravel(target)
    inter, union = np.zeros(num_classes), np.zeros(num_classes)
    for p, t in zip(pred, target):
        union[p] += 1
        if p == t:
            inter[p] += 1
        else:
            union[t] += 1
    per = np.array([inter[c] / union[c] if union[c] else np.nan
                    for c in range(num_classes)])
    present = ~np.isnan(per)
    return per, float(per[present].sum() / present.sum())
''',
}

ALTERNATIVES = {"dilated_kron_negative_pad": DILATED, "index_arrays_sequential": INDEXED,
                "loops": LOOPS}


@pytest.mark.slow
@pytest.mark.parametrize("style", sorted(ALTERNATIVES))
def test_honest_solutions_in_other_styles_earn_full_marks(style):
    answers = {**solution(NAME), **ALTERNATIVES[style]}
    seed = sorted(ALTERNATIVES).index(style) + 71  # a different session for each
    result = trusted(NAME, answers, session_seed=seed)
    assert not failures(result), failures(result)
    assert result.score == 15


# --- the held-back masks stay with the grader -------------------------------------------

def _arrays(value):
    if isinstance(value, dict) and "__ndarray__" in value:
        raw = base64.b64decode(value["__ndarray__"])
        yield np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    elif isinstance(value, dict):
        for v in value.values():
            yield from _arrays(v)
    elif isinstance(value, list):
        for v in value:
            yield from _arrays(v)


def test_the_runners_job_holds_no_held_back_mask():
    spec = load_spec(ROOT / "solutions", NAME)
    job, index = build_job(spec, new_notebook(), total_cpu=300, session_seed=5)
    text = json.dumps(job)
    sent = list(_arrays(json.loads(text)))
    (masks,) = [np.asarray(case.expect["metric"]["labels"]) for _, case in index.values()
                if "metric" in case.expect]
    assert masks.shape == (200, 16, 16)
    assert base64.b64encode(np.ascontiguousarray(masks).tobytes()).decode() not in text
    for a in sent:  # not whole, not one image's mask
        assert not (a.shape[-2:] == (16, 16) and any(
            np.array_equal(a.reshape(-1, 16, 16)[k], masks[0])
            for k in range(a.reshape(-1, 16, 16).shape[0]))), a.shape


# Student code that hunts for the held-back masks: every frame's variables, every
# module, every file it can list, encoded arrays included. If it finds an integer
# array shaped like the masks of the test images it returns it, otherwise background
# everywhere (a mean IoU of about 0.22).
HUNTER = LABEL_HUNTER + '''

def _masks(shape):
    def pick(value):
        return value if value.shape == shape and value.dtype.kind in "iu" else None
    return pick


def train_unet(images, masks, steps=300):
    return None


def segment(model, images):
    shape = (len(images), *np.shape(images)[2:])
    found = _hunt(_masks(shape))
    return np.asarray(found) if found is not None else np.zeros(shape, dtype=int)
'''


@pytest.mark.slow
def test_student_code_cannot_read_the_held_back_masks():
    result = trusted(NAME, {"train_unet": HUNTER, "segment": "pass\n"}, session_seed=7)
    verdict = result.tests["train_hidden"]
    (label, v), = verdict.verdicts
    assert not verdict.ok and v.kind == "below threshold", v
    assert v.score < 0.3, v  # background everywhere: nothing found
