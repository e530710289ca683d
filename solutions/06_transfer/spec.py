"""Assignment 06_transfer: its checks, points and rules (instructor side: never released).

References come from the course's library on the grader's side: the pretrained
backbone (``cnn_course.transfer.load_pretrained``) in float64 for embeddings, torch in
float64 for neighbours, the parameter names of ``ConvNet`` for the structural cases.
The retrieval and detector tests draw CIFAR-10 images anew in every grading session
(``fresh``); the classes of the held-back queries and test images stay in the grader's
process, inside the ``Metric``.
"""

import functools

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
    run,
)

HORSE = 7  # CIFAR-10's class index
TRAIN_CPU = 60  # CPU seconds for one call of train_detector (stated in the notebook)
MIN_PRECISION = 0.35  # precision@5 of cosine retrieval (pixels give about 0.21)
MIN_ACCURACY = 0.80  # the detector (from scratch: about 0.6)
# CIFAR-10's training images: visible cases draw the even indices, hidden ones the odd
MEAN = np.array([0.4914, 0.4822, 0.4465]).reshape(1, 3, 1, 1)
STD = np.array([0.2470, 0.2435, 0.2616]).reshape(1, 3, 1, 1)


@functools.lru_cache(maxsize=2)
def _cifar(split):
    """CIFAR-10 as numpy: uint8 images (N, 3, 32, 32), int64 labels (N,)."""
    from cnn_course.data import cifar10

    ds = cifar10(split)
    return ds.images.numpy(), ds.labels.numpy()


@functools.lru_cache(maxsize=1)
def _backbone64():
    from cnn_course.transfer import load_pretrained

    return load_pretrained().double().eval()


def _normalize64(images):
    return torch.from_numpy((images / 255.0 - MEAN) / STD)


def _features64(images=None, x=None, model=None):
    """The reference embedding (float64): the backbone's, or ``model``'s on ``x``."""
    model = model if model is not None else _backbone64()
    x = _normalize64(images) if x is None else torch.from_numpy(np.asarray(x, float))
    with torch.no_grad():
        return model.eval().features(x).numpy()


def _other_convnet(rng, num_classes=5, widths=(8, 16, 24)):
    """A ConvNet of other widths with random weights and batch-norm statistics."""
    from cnn_course.models import ConvNet

    model = ConvNet(num_classes=num_classes, widths=widths)
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = np.array(7, dtype=np.int64)
        elif key.endswith("running_var"):
            state[key] = rng.uniform(0.5, 2.0, size=value.shape).astype(np.float32)
        else:
            state[key] = (rng.normal(size=value.shape) * 0.3).astype(np.float32)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    return model.double(), state


def _pick(rng, split, n, parity=None):
    """n images of a split (of its even or odd indices only, given a parity)."""
    images, labels = _cifar(split)
    pool = np.arange(len(labels)) if parity is None else np.arange(parity, len(labels), 2)
    index = np.sort(rng.choice(pool, n, replace=False))
    return images[index], labels[index]


# --- part 1: embed -------------------------------------------------------------------

EMBED = """model = load_backbone()
result = embed(model, normalize(images))
"""
EMBED_MODE = """model = load_backbone()
model.train(mode)
out = embed(model, normalize(images))
result = {"embedding": out, "model.training afterwards": model.training,
          "requires_grad": bool(getattr(out, "requires_grad", False))}
"""
EMBED_OTHER = """model = ConvNet(num_classes=num_classes, widths=widths)
model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
model.train(mode)
result = embed(model, torch.from_numpy(x).float())
"""
EVAL_HINT = "compute in eval mode (model.eval()), then put the model back in the " \
            "mode it was in (model.train(was_training))"


def embed_visible(rng):
    images, _ = _pick(rng, "train", 4, parity=0)
    yield run(EMBED, {"images": images}, expect=np.zeros((4, 128)), shape_only=True,
              label="4 images: one row of 128 numbers each",
              hint="the embedding is the head's input: (N, 128) for the backbone")
    yield run(EMBED, {"images": images}, expect=_features64(images),
              label="the backbone's embeddings of 4 CIFAR-10 images",
              hint="the average of block 3's maps, what model.head receives")
    yield run(EMBED_MODE, {"images": images, "mode": True},
              expect={"embedding": _features64(images), "model.training afterwards": True,
                      "requires_grad": False},
              label="a model in training mode", hint=EVAL_HINT + "; use torch.no_grad()")


def embed_hidden(rng):
    images, _ = _pick(rng, "test", 40)
    yield run(EMBED, {"images": images}, expect=_features64(images),
              label="40 held-back CIFAR-10 test images")
    for mode in (True, False):
        yield run(EMBED_MODE, {"images": images[:7], "mode": mode},
                  expect={"embedding": _features64(images[:7]),
                          "model.training afterwards": mode, "requires_grad": False},
                  label=f"a model with model.training = {mode}")
    for widths, num_classes, n in (((8, 16, 24), 5, 3), ((4, 6, 10), 1, 1)):
        model, state = _other_convnet(rng, num_classes, widths)
        x = rng.normal(size=(n, 3, 16, 24))
        yield run(EMBED_OTHER, {"state": state, "widths": widths,
                                "num_classes": num_classes, "x": x, "mode": True},
                  expect=_features64(x=x.astype(np.float32), model=model),
                  label=f"a ConvNet with widths {widths} (head in_features "
                        f"{widths[-1]}), random weights, in training mode, x {x.shape}")


# --- part 2: nearest_neighbors ---------------------------------------------------------

NN = """distances, indices = nearest_neighbors(torch.from_numpy(query),
                                       torch.from_numpy(gallery), k, metric)
result = {"distances": distances, "indices": indices}
"""


def _nn_reference(query, gallery, k, metric):
    q, g = torch.from_numpy(query), torch.from_numpy(gallery)
    if metric == "l2":
        d = torch.cdist(q, g, compute_mode="donot_use_mm_for_euclid_dist")
    else:
        d = 1 - F.normalize(q, dim=1) @ F.normalize(g, dim=1).T
    dist, idx = torch.topk(d, k, dim=1, largest=False)
    return {"distances": dist.numpy(), "indices": idx.numpy()}, d.numpy()


def _nn_case(query, gallery, k, metric, label, **options):
    expect, _ = _nn_reference(query, gallery, k, metric)
    return run(NN, {"query": query, "gallery": gallery, "k": k, "metric": metric},
               expect=expect, label=label, **options)


def nn_visible(rng):
    toy = np.array([[1.0, 1.0], [3.0, 2.0], [-1.0, 0.5]])
    query = np.array([[3.0, 3.0]])
    yield _nn_case(query, toy, 3, "l2", "the lecture's toy, L2: order [1, 0, 2], nearest "
                   "at distance 1", hint="the Euclidean distance, not squared; nearest "
                   "first (torch.topk(..., largest=False))")
    yield _nn_case(query, toy, 3, "cosine", "the lecture's toy, cosine: order [0, 1, 2], "
                   "nearest at distance 0", hint="cosine distance = 1 - cos(q, g): "
                   "normalise the rows, then 1 - q @ g.T")
    query, gallery = rng.normal(size=(3, 4)), rng.normal(size=(10, 4))
    for metric in ("l2", "cosine"):
        yield _nn_case(query, gallery, 4, metric, f"3 queries, 10 gallery rows of 4, k=4, "
                       f"{metric}", hint="one row per query, its k nearest gallery rows, "
                       "nearest first")
    yield run(NN, {"query": query, "gallery": gallery, "k": 2, "metric": "manhattan"},
              raises="ValueError", label="metric='manhattan'",
              hint="an unknown metric raises ValueError")


def _separated(rng, Q, M, D, k):
    """Random data whose k nearest neighbours are clear by both metrics (no near-ties)."""
    while True:
        query, gallery = rng.normal(size=(Q, D)), rng.normal(size=(M, D))
        ok = True
        for metric in ("l2", "cosine"):
            _, d = _nn_reference(query, gallery, min(k + 1, M), metric)
            gaps = np.diff(np.sort(d, axis=1)[:, : k + 1], axis=1)
            if gaps.size and np.min(gaps) < 1e-6:
                ok = False
        if ok:
            return query, gallery


def nn_hidden(rng):
    for Q, M, D, k in ((1, 1, 1, 1), (5, 13, 3, 5), (2, 9, 17, 9), (7, 30, 128, 1),
                       (4, 6, 2, 3)):
        query, gallery = _separated(rng, Q, M, D, k)
        for metric in ("l2", "cosine"):
            yield _nn_case(query, gallery, k, metric,
                           f"{Q} queries, {M} gallery rows of {D}, k={k}, {metric}")


RETRIEVAL = """model = load_backbone()
g = embed(model, normalize(gallery))
q = embed(model, normalize(queries))
_, idx = nearest_neighbors(q, g, 5, "cosine")
result = np.asarray(gallery_labels)[np.asarray(idx)]  # (Q, 5): the neighbours' classes
"""


def retrieval_hidden(rng):
    images, labels = _cifar("test")
    gallery = np.concatenate([rng.choice(np.flatnonzero(labels == c), 30, replace=False)
                              for c in range(10)])
    rest = np.setdiff1d(np.arange(len(labels)), gallery)
    queries = np.sort(rng.choice(rest, 200, replace=False))
    # precision@5 is the accuracy of the 5 neighbours' classes against the query's
    truth = np.repeat(labels[queries][:, None], 5, axis=1)  # (Q, 5), grader only
    yield run(RETRIEVAL, {"gallery": images[gallery], "gallery_labels": labels[gallery],
                          "queries": images[queries]},
              metric=Metric("accuracy", truth, MIN_PRECISION),
              label="precision@5 (reported as accuracy over the 5 neighbours of each "
                    "of 200 held-back queries), a gallery of 300 test images")


# --- part 3: replace_head, freeze_body, train_head -------------------------------------

def _param_names(widths=(32, 64, 128), num_classes=6):
    from cnn_course.models import ConvNet

    return [n for n, _ in ConvNet(num_classes=num_classes, widths=widths).named_parameters()]


REPLACE = """model = load_backbone()
head = replace_head(model, num_classes)
result = {"type": type(model.head).__name__, "weight": tuple(model.head.weight.shape),
          "bias": tuple(model.head.bias.shape), "returned model.head": head is model.head}
"""
FREEZE = """model = load_backbone()
replace_head(model, num_classes)
freeze_body(model)
result = {name: p.requires_grad for name, p in model.named_parameters()}
"""
FREEZE_OTHER = """model = ConvNet(num_classes=5, widths=widths)
if freeze_first:
    freeze_body(model)
    replace_head(model, num_classes)
else:
    replace_head(model, num_classes)
    freeze_body(model)
result = {"requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
          "head": tuple(model.head.weight.shape)}
"""
TRAIN_HEAD = """torch.manual_seed(0)
model = load_backbone()
replace_head(model, num_classes)
freeze_body(model)
model.train(mode)
before = {k: v.clone() for k, v in model.state_dict().items()}
losses = train_head(model, torch.from_numpy(x).float(), torch.from_numpy(y), epochs=epochs,
                    lr=0.05, batch_size=8)
after = model.state_dict()
result = {"body unchanged": {k: torch.equal(v, after[k]) for k, v in before.items()
                             if not k.startswith("head.")},
          "head trained": not torch.equal(before["head.weight"], after["head.weight"]),
          "one loss per epoch": len(losses) == epochs,
          "last loss below the first": bool(losses[-1] < losses[0])}
"""
BODY_HINT = "keep the model in eval mode while training (model.eval()): in training " \
            "mode the frozen batch-norm layers update their running statistics"


def _frozen(names):
    return {n: n.startswith("head.") for n in names}


def feature_extraction_visible(rng):
    yield run(REPLACE, {"num_classes": 4},
              expect={"type": "Linear", "weight": (4, 128), "bias": (4,),
                      "returned model.head": True},
              label="replace_head(backbone, 4)",
              hint="model.head = nn.Linear(model.head.in_features, num_classes); return it")
    yield run(FREEZE, {"num_classes": 4}, expect=_frozen(_param_names(num_classes=4)),
              label="replace_head(backbone, 4), then freeze_body: requires_grad of every "
                    "parameter", hint="only head.weight and head.bias require gradients")


def _train_head_case(rng, num_classes, mode, epochs, label, **options):
    x = rng.normal(size=(16, 3, 16, 16)).astype(np.float32)  # small, to keep it quick
    y = rng.integers(0, max(num_classes, 2), size=16)
    body = {k: True for k in _backbone_state_keys() if not k.startswith("head.")}
    return run(TRAIN_HEAD, {"x": x, "y": y, "num_classes": num_classes, "mode": mode,
                            "epochs": epochs},
               expect={"body unchanged": body, "head trained": True,
                       "one loss per epoch": True, "last loss below the first": True},
               label=label, **options)


@functools.lru_cache(maxsize=1)
def _backbone_state_keys():
    from cnn_course.models import ConvNet

    return tuple(ConvNet(num_classes=6).state_dict())


def train_head_visible(rng):
    yield _train_head_case(rng, 4, False, 4, "train_head on 16 images, 4 classes, 4 epochs: "
                           "the body (weights and batch-norm statistics) is unchanged",
                           hint=BODY_HINT)


def feature_extraction_hidden(rng):
    for widths, num_classes, first in (((8, 16, 24), 2, False), ((4, 6, 10), 1, True),
                                       ((8, 16, 24), 7, True)):
        names = _param_names(widths, num_classes)
        yield run(FREEZE_OTHER, {"widths": widths, "num_classes": num_classes,
                                 "freeze_first": first},
                  expect={"requires_grad": _frozen(names), "head": (num_classes, widths[-1])},
                  label=f"a ConvNet with widths {widths}, {num_classes} new classes, "
                        f"{'freeze_body before' if first else 'freeze_body after'} "
                        "replace_head")


def train_head_hidden(rng):
    yield _train_head_case(rng, 3, True, 5, "a model left in training mode, 3 classes, "
                           "5 epochs")
    yield _train_head_case(rng, 1, True, 5, "a one-output head (binary cross-entropy), "
                           "5 epochs")


# --- part 4: unfreeze_top, fine_tune_groups --------------------------------------------

UNFREEZE = """model = ConvNet(num_classes=6, widths=widths) if widths else load_backbone()
replace_head(model, 4)
freeze_body(model)
unfreeze_top(model, n)
result = {name: p.requires_grad for name, p in model.named_parameters()}
"""
GROUPS = """model = ConvNet(num_classes=6, widths=widths) if widths else load_backbone()
replace_head(model, 4)
freeze_body(model)
unfreeze_top(model, n)
groups = fine_tune_groups(model, lr, **({} if factor is None else {"body_factor": factor}))
optimizer = torch.optim.SGD(groups, lr=1.0, momentum=0.9)
names = {id(p): name for name, p in model.named_parameters()}
result = sorted([[group["lr"], sorted(names[id(p)] for p in group["params"])]
                 for group in optimizer.param_groups])
"""
BLOCKS = ("block1", "block2", "block3")


def _unfrozen(names, n):
    top = BLOCKS[len(BLOCKS) - n:] if n else ()
    return {name: name.startswith("head.") or name.split(".")[0] in top for name in names}


def _groups(names, n, lr, factor):
    trainable = _unfrozen(names, n)
    body = sorted(k for k, v in trainable.items() if v and not k.startswith("head."))
    head = sorted(k for k in names if k.startswith("head."))
    groups = [[lr * (0.1 if factor is None else factor), body]] if body else []
    return sorted(groups + [[lr, head]])


def _unfreeze_case(n, widths=None, label="", **options):
    names = _param_names(widths or (32, 64, 128), 4)
    return run(UNFREEZE, {"n": n, "widths": widths}, expect=_unfrozen(names, n),
               label=label, **options)


def _groups_case(n, lr, factor, widths=None, label="", **options):
    names = _param_names(widths or (32, 64, 128), 4)
    return run(GROUPS, {"n": n, "lr": lr, "factor": factor, "widths": widths},
               expect=_groups(names, n, lr, factor), label=label, **options)


def fine_tuning_visible(rng):
    yield _unfreeze_case(1, label="freeze_body, then unfreeze_top(model, 1): block3 and "
                         "the head train", hint="the blocks are block1, block2, block3; "
                         "n = 1 is block3")
    yield _groups_case(1, 0.01, None, label="fine_tune_groups(model, 0.01) with block3 "
                       "unfrozen: [lr, parameter names] of each group",
                       hint="two groups: the body's trainable parameters at lr * "
                            "body_factor (0.001), the head's at lr (0.01)")


def unfreeze_hidden(rng):
    for n in (0, 2, 3):
        yield _unfreeze_case(n, label=f"the backbone, unfreeze_top(model, {n})")
    yield _unfreeze_case(2, (4, 6, 10), label="a ConvNet with widths (4, 6, 10), n = 2")


def groups_hidden(rng):
    for n, lr, factor in ((2, 0.05, None), (3, 0.2, 0.2), (0, 0.01, 0.1), (1, 1.0, 0.5)):
        yield _groups_case(n, lr, factor, label=f"n = {n}, lr = {lr}, body_factor = "
                           f"{'default' if factor is None else factor}")
    yield _groups_case(1, 0.03, None, (8, 16, 24), label="a ConvNet with widths "
                       "(8, 16, 24), n = 1")


# --- part 5: is there a horse? -------------------------------------------------------

DETECTOR = """model = train_detector(X_train, y_train)
outputs = model.head.out_features
assert outputs == 1, f"the detector's head has {outputs} outputs; it should have one"
result = np.asarray(detect(model, X_test))
"""


def _yes_no(rng, split, sizes, parity=None):
    """Disjoint sets of images, each half horses (1) and half others (0)."""
    images, labels = _cifar(split)
    pool = np.arange(len(labels)) if parity is None else np.arange(parity, len(labels), 2)
    yes = rng.permutation(pool[labels[pool] == HORSE])
    no = rng.permutation(pool[labels[pool] != HORSE])
    sets, start = [], 0
    for n in sizes:
        index = rng.permutation(np.concatenate([yes[start:start + n], no[start:start + n]]))
        sets.append((images[index], (labels[index] == HORSE).astype(np.int64)))
        start += n
    return sets


def detector_visible(rng):
    (X_train, y_train), (X_test, y_test) = _yes_no(rng, "train", (20, 30), parity=0)
    yield run(DETECTOR, {"X_train": X_train, "y_train": y_train, "X_test": X_test},
              metric=Metric("accuracy", y_test, MIN_ACCURACY), cpu_seconds=TRAIN_CPU,
              label="trained on 20 horses and 20 others, tested on 60 other training "
                    "images")


def detector_hidden(rng):
    ((X_train, y_train),) = _yes_no(rng, "train", (25,), parity=1)
    ((X_test, y_test),) = _yes_no(rng, "test", (100,))
    yield run(DETECTOR, {"X_train": X_train, "y_train": y_train, "X_test": X_test},
              metric=Metric("accuracy", y_test, MIN_ACCURACY), cpu_seconds=TRAIN_CPU,
              label="trained on 25 horses and 25 others, tested on 200 held-back test "
                    "images")


SPEC = Assignment(
    name="06_transfer",
    title="transfer learning",
    lectures=("11_transfer_learning",),
    allow=("numpy", "torch", "matplotlib", "cnn_course.models", "cnn_course.weights"),
    forbid=("cnn_course.transfer", "cnn_course.analysis", "cnn_course.training",
            "cnn_course.data", "torchvision", "sklearn", "scipy"),
    rtol=1e-4,
    atol=1e-4,
    tolerance_note="float32 results are fine",
    limits=Limits(call_cpu=10, cell_cpu=20),
    seed=20261215,
    parts=[
        Part("embed", "`embed`: image embeddings, in eval mode without gradients",
             ("embed",), [
            Test("embed_visible", 1, "embed: shape and values of the backbone's "
                 "embeddings; a model in training mode stays in training mode.",
                 embed_visible),
            Test("embed_hidden", 2, "embed matches the reference on held-back images and "
                 "on ConvNets of other widths, and keeps the model's mode.", embed_hidden,
                 hidden=True, fresh=True),
        ]),
        Part("nearest_neighbors", "`nearest_neighbors`: L2 and cosine, and retrieval on "
             "CIFAR-10", ("nearest_neighbors",), [
            Test("nn_visible", 1, "nearest_neighbors: the lecture's toy example by both "
                 "metrics, random data, an unknown metric.", nn_visible),
            Test("nn_hidden", 1, "nearest_neighbors matches torch on random shapes "
                 "(k = 1, k = M, D = 1 included).", nn_hidden, hidden=True),
            Test("retrieval_hidden", 1, f"precision@5 of at least {MIN_PRECISION:g} when "
                 "your embed and nearest_neighbors search held-back CIFAR-10 images.",
                 retrieval_hidden, hidden=True, fresh=True),
        ]),
        Part("feature_extraction", "`replace_head`, `freeze_body`, `train_head`: feature "
             "extraction", ("replace_head", "freeze_body", "train_head"), [
            Test("feature_extraction_visible", 1, "replace_head and freeze_body: the new "
                 "head's shape and which parameters require gradients.",
                 feature_extraction_visible),
            Test("train_head_visible", 1, "train_head trains the head and leaves every "
                 "weight and batch-norm statistic of the body unchanged.",
                 train_head_visible),
            Test("feature_extraction_hidden", 1, "replace_head and freeze_body on ConvNets "
                 "of other widths, in either order.", feature_extraction_hidden,
                 hidden=True),
            Test("train_head_hidden", 1, "train_head from training mode, and with a "
                 "one-output head: the body unchanged, the loss going down.",
                 train_head_hidden, hidden=True),
        ]),
        Part("fine_tuning", "`unfreeze_top`, `fine_tune_groups`: fine-tuning at 1/10 of "
             "the learning rate", ("unfreeze_top", "fine_tune_groups"), [
            Test("fine_tuning_visible", 1, "unfreeze_top(model, 1) and the two parameter "
                 "groups with their learning rates.", fine_tuning_visible),
            Test("unfreeze_hidden", 1, "unfreeze_top for n = 0, 2, 3 and other widths.",
                 unfreeze_hidden, hidden=True),
            Test("groups_hidden", 1, "fine_tune_groups for other n, learning rates and "
                 "factors, an empty body group left out.", groups_hidden, hidden=True),
        ]),
        Part("detector", "`train_detector`, `detect`: is there a horse?",
             ("train_detector", "detect"), [
            Test("detector_visible", 1, f"the horse detector: accuracy of at least "
                 f"{MIN_ACCURACY:g} on 60 images (a one-output head).", detector_visible),
            Test("detector_hidden", 2, f"the horse detector: accuracy of at least "
                 f"{MIN_ACCURACY:g} on 200 held-back test images (new images in every "
                 "session).", detector_hidden, hidden=True, fresh=True),
        ]),
    ],
)

# --- example submissions -------------------------------------------------------------

_EMBED_AS_FOUND = '''def embed(model, x):
    """The head's input, in whatever mode the model is in (batch statistics in training)."""
    with torch.no_grad():
        return model.features(x)
'''

_COSINE_SIMILARITY = '''def nearest_neighbors(query, gallery, k, metric="l2"):
    """Cosine *similarity* sorted as if it were a distance: the farthest come first."""
    if metric == "l2":
        distances = torch.cdist(query, gallery)
    elif metric == "cosine":
        q = query / query.norm(dim=1, keepdim=True)
        g = gallery / gallery.norm(dim=1, keepdim=True)
        distances = q @ g.T
    else:
        raise ValueError(f"expected metric 'l2' or 'cosine', got {metric!r}")
    return torch.topk(distances, k, dim=1, largest=False)
'''

_HEAD_IN_TRAIN_MODE = '''def train_head(model, x, y, epochs=10, lr=0.05, batch_size=32):
    """Trains the head, but in training mode: batch norm's statistics move."""
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                                lr=lr, momentum=0.9)
    model.train()
    losses = []
    for _ in range(epochs):
        out = model(x)
        if out.shape[1] == 1:
            loss = F.binary_cross_entropy_with_logits(out[:, 0], y.float())
        else:
            loss = F.cross_entropy(out, y.long())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
'''

_ONE_GROUP = '''def fine_tune_groups(model, lr, body_factor=0.1):
    """Everything that trains at the same rate: one group."""
    return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]
'''

_LIBRARY_EMBED = '''from cnn_course.transfer import embed as library_embed


def embed(model, x):
    """The library's embedding (not allowed here)."""
    return library_embed(model, x)
'''

_FROM_SCRATCH = '''def train_detector(images, labels):
    """Forgets the pretrained weights: a random ConvNet, briefly trained from scratch."""
    torch.manual_seed(0)
    model = ConvNet(num_classes=1)
    x, y = normalize(images), torch.as_tensor(np.asarray(labels)).float()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for step in range(20):
        batch = torch.randint(0, len(x), (32,))
        loss = F.binary_cross_entropy_with_logits(model(x[batch])[:, 0], y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
'''

_ALL = {a: SOLUTION for p in SPEC.parts for a in p.answers}

SPEC.examples = [
    Example("full_solution", "every part right: full marks", 16),
    Example("blank", "the release as handed out: 0", 0, answers={}),
    Example("partly_correct", "embeddings, neighbours, replace_head and freeze_body: "
            "partial credit", 8,
            answers={a: SOLUTION for a in ("embed", "nearest_neighbors", "replace_head",
                                           "freeze_body")}),
    Example("embed_in_train_mode", "embed never switches to eval mode: part 1 earns "
            "nothing", 13, answers={**_ALL, "embed": _EMBED_AS_FOUND}, reason="eval mode"),
    Example("cosine_similarity", "sorts cosine similarity as a distance: part 2 earns "
            "nothing", 13, answers={**_ALL, "nearest_neighbors": _COSINE_SIMILARITY},
            reason="1 - cos"),
    Example("head_in_train_mode", "trains the head in training mode: the body's "
            "batch-norm statistics move, train_head's tests fail", 14,
            answers={**_ALL, "train_head": _HEAD_IN_TRAIN_MODE},
            reason="running statistics"),
    Example("one_group", "one parameter group at the full rate: the group tests fail",
            14, answers={**_ALL, "fine_tune_groups": _ONE_GROUP}, reason="body_factor"),
    Example("uses_library_embed", "embed from cnn_course.transfer: embeddings, retrieval "
            "and the detector built on them earn nothing", 9,
            answers={**_ALL, "embed": _LIBRARY_EMBED}, reason="cnn_course.transfer"),
    Example("detector_from_scratch", "the detector forgets the pretrained weights and "
            "trains from scratch: below the threshold, part 5 earns nothing", 13,
            answers={**_ALL, "train_detector": _FROM_SCRATCH}, reason="below threshold"),
]
