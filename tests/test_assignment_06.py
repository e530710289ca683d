"""Assignment 06_transfer: honest answers in other styles earn full marks; the held-back
classes never reach the sandbox.

Each alternative is graded by the trusted runner (sandboxed where this machine can),
with every test of the spec, the retrieval and the detector on fresh CIFAR-10 draws
included. The structural parts fix only names and effects, so these change everything
else: ``model.features`` or hooks on another layer, neighbours in numpy or by
broadcasting, embeddings computed once or the whole model run every epoch, a
``DataLoader``, feature extraction by LBFGS or fine-tuning of block 3.
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

NAME = "06_transfer"

# The spec's examples graded end to end, and plain nbgrader agreeing on one of them
test_each_example_earns_its_declared_score, test_plain_nbgrader_autograde_agrees = \
    example_tests(NAME)

torch.set_num_threads(1)

# model.features, no_grad, broadcasting, a DataLoader, the whole model every epoch.
FEATURES = {
    "embed": '''
def embed(model, x):
    mode = model.training
    model.eval()
    with torch.no_grad():
        out = model.features(x)
    model.train(mode)
    return out
''',
    "nearest_neighbors": '''
def nearest_neighbors(query, gallery, k, metric="l2"):
    if metric not in ("l2", "cosine"):
        raise ValueError(metric)
    if metric == "l2":
        d = ((query[:, None, :] - gallery[None, :, :]) ** 2).sum(-1).sqrt()
    else:
        d = 1 - F.cosine_similarity(query[:, None, :], gallery[None, :, :], dim=-1)
    order = d.argsort(dim=1)[:, :k]
    return torch.gather(d, 1, order), order
''',
    "replace_head": '''
def replace_head(model, num_classes):
    setattr(model, "head", nn.Linear(model.head.in_features, num_classes))
    return model.head
''',
    "freeze_body": '''
def freeze_body(model):
    model.requires_grad_(False)
    model.head.requires_grad_(True)
    return model
''',
    "train_head": '''
from torch.utils.data import DataLoader, TensorDataset


def train_head(model, x, y, epochs=10, lr=0.05, batch_size=32):
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()),
                                lr=lr, momentum=0.9)
    binary = model.head.out_features == 1
    model.eval()
    history = []
    for epoch in range(epochs):
        losses = []
        for xb, yb in loader:
            out = model(xb)
            loss = (F.binary_cross_entropy_with_logits(out.squeeze(1), yb.float())
                    if binary else F.cross_entropy(out, yb.long()))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
    return history
''',
    "unfreeze_top": '''
def unfreeze_top(model, n):
    names = [name for name, _ in model.named_children() if name.startswith("block")]
    for name in names[::-1][:n]:
        model.get_submodule(name).requires_grad_(True)
    return model
''',
    "fine_tune_groups": '''
def fine_tune_groups(model, lr, body_factor=0.1):
    head_ids = {id(p) for p in model.head.parameters()}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    head = [p for p in model.head.parameters() if p.requires_grad]
    return [g for g in ({"params": body, "lr": lr * body_factor},
                        {"params": head, "lr": lr}) if g["params"]]
''',
    "train_detector": '''
def train_detector(images, labels):
    torch.manual_seed(1)
    model = load_backbone()
    replace_head(model, 1)
    freeze_body(model)
    train_head(model, normalize(images), torch.as_tensor(labels), epochs=40, lr=0.02,
               batch_size=10)
    return model
''',
    "detect": '''
def detect(model, images):
    model.eval()
    with torch.no_grad():
        p = torch.sigmoid(model(normalize(images)).flatten())
    return (p > 0.5).int().numpy()
''',
}

# A hook on another layer, numpy for the neighbours, embeddings computed once, LBFGS.
HOOKS_NUMPY = {
    "embed": '''
def embed(model, x):
    """The output of model.pool (the flattened averages), caught by a forward hook."""
    out = {}
    handle = model.pool.register_forward_hook(lambda m, i, o: out.setdefault("v", o))
    was = model.training
    try:
        model.train(False)
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
        model.train(was)
    return out["v"]
''',
    "nearest_neighbors": '''
def nearest_neighbors(query, gallery, k, metric="l2"):
    q, g = query.numpy(), gallery.numpy()
    if metric == "l2":
        d = np.sqrt(((q[:, None] - g[None]) ** 2).sum(-1))
    elif metric == "cosine":
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        gn = g / np.linalg.norm(g, axis=1, keepdims=True)
        d = 1 - qn @ gn.T
    else:
        raise ValueError(f"unknown metric {metric}")
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return torch.from_numpy(np.take_along_axis(d, idx, 1)), torch.from_numpy(idx)
''',
    "replace_head": '''
def replace_head(model, num_classes):
    d = model.head.weight.shape[1]
    model.head = nn.Linear(d, num_classes)
    return model.head
''',
    "freeze_body": '''
def freeze_body(model):
    for name, child in model.named_children():
        for p in child.parameters():
            p.requires_grad = name == "head"
    return model
''',
    "train_head": '''
def train_head(model, x, y, epochs=10, lr=0.05, batch_size=32):
    """The body is frozen, so its embeddings are computed once."""
    features = embed(model, x)
    head = model.head
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        epoch = []
        for batch in perm.split(batch_size):
            out = head(features[batch])
            if out.shape[1] == 1:
                loss = F.binary_cross_entropy_with_logits(out[:, 0], y[batch].float())
            else:
                loss = F.cross_entropy(out, y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch.append(loss.item() * len(batch))
        losses.append(sum(epoch) / len(x))
    return losses
''',
    "unfreeze_top": '''
def unfreeze_top(model, n):
    blocks = [m for name, m in model.named_children()
              if name != "head" and len(list(m.parameters())) > 0]
    for block in blocks[len(blocks) - n:] if n else []:
        for p in block.parameters():
            p.requires_grad = True
    return model
''',
    "fine_tune_groups": '''
def fine_tune_groups(model, lr, body_factor=0.1):
    named = dict(model.named_parameters())
    body = [p for n, p in named.items() if p.requires_grad and not n.startswith("head")]
    head = [p for n, p in named.items() if p.requires_grad and n.startswith("head")]
    groups = []
    if len(body):
        groups.append(dict(params=body, lr=body_factor * lr))
    if len(head):
        groups.append(dict(params=head, lr=lr))
    return groups
''',
    "train_detector": '''
def train_detector(images, labels):
    """Logistic regression on the unit-length embeddings, by LBFGS."""
    model = load_backbone()
    z = embed(model, normalize(images))
    scale = z.norm(dim=1).mean()
    head = nn.Linear(z.shape[1], 1)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    t = torch.tensor(np.asarray(labels), dtype=torch.float32)
    opt = torch.optim.LBFGS(head.parameters(), max_iter=100)

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(head(z / scale)[:, 0], t)
        loss = loss + 1e-2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        head.weight /= scale  # fold the scaling into the head
    model.head = head
    return model
''',
    "detect": '''
def detect(model, images):
    with torch.no_grad():
        logits = model.eval()(normalize(images)).numpy()
    return np.where(logits[:, 0] > 0, 1, 0)
''',
}

# The layers up to the head in a loop; fine-tuning block 3 with the two groups.
FINE_TUNING = {
    "embed": '''
@torch.no_grad()
def embed(model, x):
    previous = model.training
    model.eval()
    for name, child in model.named_children():
        if name == "head":
            break
        x = child(x)
    model.train(previous)
    return x.reshape(len(x), -1)
''',
    "nearest_neighbors": '''
def nearest_neighbors(query, gallery, k, metric="l2"):
    if metric == "l2":
        d = torch.cdist(query, gallery)
    elif metric == "cosine":
        d = 1 - torch.nn.functional.normalize(query, dim=1) @ \\
            torch.nn.functional.normalize(gallery, dim=1).t()
    else:
        raise ValueError("metric must be 'l2' or 'cosine'")
    d, i = torch.sort(d, dim=1, stable=True)
    return d[:, :k], i[:, :k]
''',
    "train_detector": '''
def train_detector(images, labels):
    """Fine-tuning: block 3 at lr / 10, the head at lr, flips as augmentation."""
    torch.manual_seed(0)
    model = load_backbone()
    replace_head(model, 1)
    freeze_body(model)
    unfreeze_top(model, 1)
    optimizer = torch.optim.SGD(fine_tune_groups(model, 0.02), momentum=0.9,
                                weight_decay=5e-4)
    x = normalize(images)
    y = torch.as_tensor(np.asarray(labels)).float()
    model.eval()  # batch norm keeps its statistics; the weights still train
    for step in range(60):
        batch = torch.randint(0, len(x), (16,))
        xb = x[batch]
        if step % 2:
            xb = xb.flip(3)
        loss = F.binary_cross_entropy_with_logits(model(xb)[:, 0], y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model
''',
}

ALTERNATIVES = {"features_dataloader": FEATURES, "hooks_numpy_lbfgs": HOOKS_NUMPY,
                "fine_tuning": FINE_TUNING}


@pytest.mark.slow
@pytest.mark.parametrize("style", sorted(ALTERNATIVES))
def test_honest_solutions_in_other_styles_earn_full_marks(style):
    answers = {**solution(NAME), **ALTERNATIVES[style]}
    seed = sorted(ALTERNATIVES).index(style) + 61  # a different session for each
    result = trusted(NAME, answers, session_seed=seed)
    assert not failures(result), failures(result)
    assert result.score == 16


# --- the held-back classes stay with the grader -----------------------------------------

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


def test_the_runners_job_holds_no_held_back_class():
    spec = load_spec(ROOT / "solutions", NAME)
    job, index = build_job(spec, new_notebook(), total_cpu=300, session_seed=5)
    text = json.dumps(job)
    sent = list(_arrays(json.loads(text)))
    held = [np.asarray(case.expect["metric"]["labels"]) for test_id, case in index.values()
            if "metric" in case.expect]
    assert len(held) == 3  # retrieval, the detector visible and hidden
    for labels in held:
        assert base64.b64encode(np.ascontiguousarray(labels).tobytes()).decode() not in text
        column = labels[:, 0] if labels.ndim == 2 else labels  # precision@5's classes
        for a in sent:
            assert not (a.shape == labels.shape and np.array_equal(a, labels))
            assert not (a.shape == column.shape and np.array_equal(a, column))


# Student code that hunts for the classes of the test images: every frame's variables,
# every module, every file it can list, encoded arrays included. If it finds an array
# of the test images' length holding 0 and 1 it returns it, otherwise all zeros (half
# right on a balanced test set).
HUNTER = LABEL_HUNTER + '''

def _classes(n):
    def pick(value):
        if value.shape in ((n,), (n, 5)) and value.dtype.kind in "iub":
            return value.reshape(n, -1)[:, 0]
        return None
    return pick


def train_detector(images, labels):
    model = load_backbone()
    model.head = nn.Linear(128, 1)
    return model


def detect(model, images):
    found = _hunt(_classes(len(images)))
    return np.asarray(found, dtype=int) if found is not None else np.zeros(len(images), int)
'''


@pytest.mark.slow
def test_student_code_cannot_read_the_held_back_classes():
    result = trusted(NAME, {"train_detector": HUNTER, "detect": "pass\n"}, session_seed=7)
    verdict = result.tests["detector_hidden"]
    (label, v), = verdict.verdicts
    assert not verdict.ok and v.kind == "below threshold", v
    assert v.score == 0.5, v  # all zeros on 100 horses and 100 others: nothing found
