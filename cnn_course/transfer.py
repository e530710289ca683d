"""Transfer learning: freeze and unfreeze, new heads, two learning rates, embeddings,
nearest neighbours, and the course's own pretrained backbone.

Lecture: ``lectures/11_transfer_learning.ipynb``.

The recipe of the lecture, in code::

    model = load_pretrained("convnet_cifar10_animals")   # trained by the course
    replace_head(model, num_classes=4)                    # a new, random head
    freeze(model)                                         # feature extraction:
    unfreeze(model, "head")                               #   train the head only
    ...
    unfreeze(model)                                       # fine-tuning: all layers,
    groups = param_groups(model, lr=0.01)                 #   body at lr / 10
    optimizer = torch.optim.SGD(groups, momentum=0.9)

The backbone (:class:`cnn_course.models.ConvNet`) ships with the package
(``cnn_course/weights/``); ``cnn-course pretrain`` is the command that made it, and
its metadata file says how. The metadata names the architecture, which
:func:`cnn_course.models.build` builds.

The lecture's table (from scratch, feature extraction and fine-tuning, with 10, 50
and 100 labelled images per class) is :func:`transfer_table`; one cell of it is
:func:`train_transfer`. ``scripts/transfer_table.py`` and the lecture both call it.
"""

from __future__ import annotations

import json
import statistics
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .data.augment import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    Compose,
    HorizontalFlip,
    Normalize,
    RandomCrop,
)
from .data.datasets import ImageDataset, per_class
from .data.sources import md5sum
from .device import model_device
from .errors import CourseError
from .models import build, convnet
from .training.fit import fit
from .training.loader import as_loader
from .training.loop import evaluate
from .training.schedules import cosine_schedule

__all__ = [
    "blocks", "freeze", "unfreeze", "trainable",
    "head_name", "replace_head", "param_groups", "activations", "embed",
    "nearest_neighbors", "WEIGHTS_DIR", "save_pretrained",
    "load_pretrained", "pretrained_info", "PretrainedError",
    "METHODS", "train_transfer", "TransferTable", "transfer_table",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


# ----------------------------------------------------------------------------------
# Blocks, freezing and heads
# ----------------------------------------------------------------------------------


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's blocks in order: its children that hold parameters.

    A plain ``nn.Sequential`` child of single layers (LeNet's ``features``) is
    opened up, so its layers count as blocks (``features.c1``, ``features.c3``).
    """
    found = []
    for name, child in model.named_children():
        if not _has_params(child):
            continue
        leaves_only = all(not any(True for _ in c.children())
                          for c in child.children())
        if type(child) is nn.Sequential and leaves_only:
            found += [(f"{name}.{sub}", c) for sub, c in child.named_children()
                      if _has_params(c)]
        else:
            found.append((name, child))
    return found


def _always_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(self, False)


def _select(model: nn.Module, names: Sequence[str], depth: int | None
            ) -> list[tuple[str, nn.Module]]:
    """The blocks / sub-modules that ``freeze`` and ``unfreeze`` act on."""
    if names and depth is not None:
        raise ValueError("give block names or depth, not both")
    if depth is not None:
        all_blocks = blocks(model)
        if not -len(all_blocks) <= depth <= len(all_blocks):
            raise ValueError(f"depth {depth} but the model has {len(all_blocks)} "
                             f"blocks: {[n for n, _ in all_blocks]}")
        return all_blocks[:depth] if depth >= 0 else all_blocks[depth:]
    if not names:
        return [("", model)]
    modules = dict(model.named_modules())
    chosen = []
    for name in names:
        if name not in modules:
            raise ValueError(f"no block {name!r}; blocks are "
                             f"{[n for n, _ in blocks(model)]}")
        chosen.append((name, modules[name]))
    return chosen


def freeze(model: nn.Module, *names: str, depth: int | None = None) -> nn.Module:
    """Stop training parts of ``model``: all of it, the named blocks, or by depth.

    ``freeze(model)`` freezes everything; ``freeze(model, "block1", "block2")`` the
    named sub-modules; ``freeze(model, depth=2)`` the first two of :func:`blocks`
    (``depth=-1``: the last one). Frozen parameters get ``requires_grad=False``,
    and frozen batch-norm layers stay in eval mode even under ``model.train()``, so
    their running statistics (learnt on the source task) are kept and used.
    """
    for _, module in _select(model, names, depth):
        for p in module.parameters():
            p.requires_grad_(False)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train = types.MethodType(_always_eval, m)
                m.eval()
    return model


def unfreeze(model: nn.Module, *names: str, depth: int | None = None) -> nn.Module:
    """Undo :func:`freeze` for all of ``model``, the named blocks, or by depth.

    ``unfreeze(model, depth=-1)`` unfreezes the last block (fine-tune the top only).
    """
    for _, module in _select(model, names, depth):
        for p in module.parameters():
            p.requires_grad_(True)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.__dict__.pop("train", None)
                m.train(model.training)
    return model


def trainable(model: nn.Module) -> list[str]:
    """Names of the parameters that will be trained."""
    return [n for n, p in model.named_parameters() if p.requires_grad]


def head_name(model: nn.Module) -> str:
    """The classifier layer's name: ``model.head_name`` or the last ``nn.Linear``."""
    name = getattr(model, "head_name", None)
    if name is not None:
        return name
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to replace")
    return linears[-1]


def replace_head(model: nn.Module, num_classes: int) -> nn.Linear:
    """Swap the classifier for a new, randomly initialised ``nn.Linear``.

    Keeps its ``in_features``; ``num_classes=1`` gives the lecture's one-output
    "is there a hot dog" classifier (``fit`` then uses a binary loss). Returns the
    new head. For networks whose last layer is not linear (classic LeNet-5's RBF
    output) this replaces the last ``nn.Linear``, which may not be what you want.
    """
    name = head_name(model)
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr)
    if not isinstance(old, nn.Linear):
        raise ValueError(f"{name} is a {type(old).__name__}, not nn.Linear")
    new = nn.Linear(old.in_features, num_classes).to(old.weight.device)
    setattr(parent, attr, new)
    return new


def param_groups(model: nn.Module, lr: float, body_lr_factor: float = 0.1,
                 head: str | None = None) -> list[dict]:
    """Two optimizer parameter groups: the body at ``lr * body_lr_factor``, the
    head at ``lr``.

    The lecture's fine-tuning rule: pretrained layers move at about 1/10 of the
    learning rate of the new head. Frozen parameters are left out. Use as
    ``torch.optim.SGD(param_groups(model, 0.01), momentum=0.9)``.
    """
    head = head if head is not None else head_name(model)
    head_params, body_params = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        in_head = name == head or name.startswith(head + ".")
        (head_params if in_head else body_params).append(p)
    groups = []
    if body_params:
        groups.append({"params": body_params, "lr": lr * body_lr_factor,
                       "name": "body"})
    if head_params:
        groups.append({"params": head_params, "lr": lr, "name": "head"})
    if not groups:
        raise ValueError("every parameter is frozen: nothing to optimise")
    return groups


# ----------------------------------------------------------------------------------
# Activations, embeddings and nearest neighbours
# ----------------------------------------------------------------------------------


@torch.no_grad()
def activations(model: nn.Module, x: torch.Tensor, layers: Sequence[str]
                ) -> dict[str, torch.Tensor]:
    """The outputs of the named ``layers`` for the batch ``x``, in eval mode.

    ``activations(model, X, ["block1", "block2"])`` -> ``{"block1": (N, 32, 16, 16),
    ...}``. Uses forward hooks, removed afterwards.
    """
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise ValueError(f"no layer {missing}; layers are "
                         f"{[n for n in modules if n][:40]}")
    captured: dict[str, torch.Tensor] = {}
    hooks = []
    for name in layers:
        def hook(module, inputs, output, name=name):
            captured[name] = output.detach()
        hooks.append(modules[name].register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return {name: captured[name] for name in layers}


@torch.no_grad()
def embed(model: nn.Module, data, layer: str | None = None, *, pool: str = "avg",
          batch_size: int = 256, device: str | torch.device | None = None,
          transform: Callable | None = None) -> torch.Tensor:
    """Image embeddings: the activations of ``layer`` for every image of ``data``.

    ``layer=None`` takes what the head sees (its input), the usual image embedding.
    A 4-D activation ``(N, C, H, W)`` becomes ``(N, C)`` by global average pooling
    (``pool="avg"``) or ``(N, C*H*W)`` (``pool="flatten"``). ``data`` is anything
    ``fit`` accepts (a dataset, ``(X, y)``, a loader) or a tensor ``X``; batches go
    through ``transform`` (e.g. the normalisation used in training).
    Returns float32 ``(N, D)`` on the CPU, in the order of ``data``.
    """
    if pool not in ("avg", "flatten"):
        raise ValueError(f"expected pool 'avg' or 'flatten', got {pool!r}")
    device = torch.device(device) if device is not None else model_device(model)
    if isinstance(data, torch.Tensor):
        data = (data, torch.zeros(data.shape[0], dtype=torch.long))
    loader = as_loader(data, batch_size, False, transform, None, device)
    modules = dict(model.named_modules())
    use_input = layer is None
    name = head_name(model) if use_input else layer
    if name not in modules:
        raise ValueError(f"no layer {name!r} in {type(model).__name__}")
    captured: list[torch.Tensor] = []

    def hook(module, inputs, output=None):
        out = inputs[0] if use_input else output
        if out.ndim == 4 and pool == "avg":
            out = out.mean(dim=(2, 3))  # (N, C)
        captured.append(out.flatten(1).float().cpu())  # (N, D)

    handle = (modules[name].register_forward_pre_hook(hook) if use_input
              else modules[name].register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        for X, _ in loader:
            model(X.to(device))
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(captured)


def nearest_neighbors(features: torch.Tensor, queries: torch.Tensor,
                      metric: str = "l2", k: int = 5, *, exclude_self: bool = False,
                      chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest ``features`` rows of every query row.

    ``features: (M, D)``, ``queries: (Q, D)`` -> ``(distances (Q, k), indices (Q, k))``,
    nearest first. ``metric="l2"``: Euclidean distance; ``"cosine"``: cosine
    distance ``1 - cos(q, f)`` (0 for the same direction, 2 for opposite).
    ``exclude_self=True`` (queries are the features themselves) skips each row's
    match with itself.
    """
    if metric not in ("l2", "cosine"):
        raise ValueError(f"expected metric 'l2' or 'cosine', got {metric!r}")
    if features.ndim != 2 or queries.ndim != 2 or features.shape[1] != queries.shape[1]:
        raise ValueError(f"expected features (M, D) and queries (Q, D), got "
                         f"{tuple(features.shape)} and {tuple(queries.shape)}")
    if exclude_self and features.shape[0] != queries.shape[0]:
        raise ValueError("exclude_self needs the queries to be the features")
    available = features.shape[0] - (1 if exclude_self else 0)
    if not 1 <= k <= available:
        raise ValueError(f"k={k} but there are {available} candidates")
    features, queries = features.float(), queries.float()
    if metric == "cosine":
        features = F.normalize(features, dim=1)
        queries = F.normalize(queries, dim=1)
    all_d, all_i = [], []
    for start in range(0, queries.shape[0], chunk):
        q = queries[start:start + chunk]  # (B, D)
        if metric == "l2":
            d = torch.cdist(q, features,
                            compute_mode="donot_use_mm_for_euclid_dist")  # (B, M)
        else:
            d = 1 - q @ features.T  # (B, M)
        if exclude_self:
            rows = torch.arange(q.shape[0])
            d[rows, rows + start] = float("inf")
        dist, idx = torch.topk(d, k, dim=1, largest=False)  # sorted, nearest first
        all_d.append(dist)
        all_i.append(idx)
    return torch.cat(all_d), torch.cat(all_i)


# ----------------------------------------------------------------------------------
# The course's pretrained weights
# ----------------------------------------------------------------------------------


class PretrainedError(CourseError, RuntimeError):
    """A weight file is missing, corrupted, or does not fit the architecture."""


def save_pretrained(model: nn.Module, name: str, arch: str, arch_kwargs: dict,
                    metadata: dict, folder: str | Path = WEIGHTS_DIR) -> Path:
    """Write ``folder/name.pt`` (the state dict) and ``folder/name.json``.

    The JSON holds ``metadata`` plus the architecture, its arguments, the file's
    size and md5. Returns the weight file's path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{name}.pt"
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save(state, weights)
    info = {"name": name, "arch": arch, "arch_kwargs": arch_kwargs, **metadata,
            "file": weights.name, "bytes": weights.stat().st_size,
            "md5": md5sum(weights)}
    (folder / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
    return weights


def pretrained_info(name: str = "convnet_cifar10_animals",
                    folder: str | Path = WEIGHTS_DIR) -> dict:
    """The metadata of a shipped weight file (data, command, accuracy, md5)."""
    path = Path(folder) / f"{name}.json"
    if not path.is_file():
        shipped = sorted(p.stem for p in Path(folder).glob("*.json"))
        raise PretrainedError(f"no weights named {name!r} in {folder}; there are "
                              f"{shipped}. `cnn-course pretrain` makes them.")
    return json.loads(path.read_text())


def load_pretrained(name: str = "convnet_cifar10_animals",
                    folder: str | Path = WEIGHTS_DIR) -> nn.Module:
    """Build the architecture named in the metadata and load the weights into it.

    Checks the file's md5 against the metadata and that every tensor name and
    shape matches the architecture; raises :class:`PretrainedError` otherwise.
    The model comes back in eval mode with ``model.pretrained_info`` set.
    """
    info = pretrained_info(name, folder)
    weights = Path(folder) / info["file"]
    if not weights.is_file():
        raise PretrainedError(f"{weights} is missing (its metadata is there)")
    got = md5sum(weights)
    if got != info["md5"]:
        raise PretrainedError(f"{weights} is corrupted: md5 {got}, the metadata "
                              f"says {info['md5']}")
    model = build(info["arch"], **info["arch_kwargs"])
    state = torch.load(weights, map_location="cpu", weights_only=True)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected)
                   if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append(f"missing {missing[:5]}")
        if unexpected:
            details.append(f"unexpected {unexpected[:5]}")
        for k in wrong[:5]:
            details.append(f"{k}: file {tuple(state[k].shape)}, architecture "
                           f"{tuple(expected[k].shape)}")
        raise PretrainedError(f"{weights} does not fit architecture {info['arch']} "
                              f"{info['arch_kwargs']}: " + "; ".join(details))
    model.load_state_dict(state)
    model.eval()
    model.pretrained_info = info
    return model


# ----------------------------------------------------------------------------------
# The transfer table: scratch, feature extraction and fine-tuning, few labels
# ----------------------------------------------------------------------------------

#: The three ways to train on the target task, in the table's order.
METHODS = ("scratch", "feature extraction", "fine-tuning")


def _epochs_for(steps: int, n_images: int, batch_size: int) -> int:
    """Epochs that give at least ``steps`` optimizer steps."""
    steps_per_epoch = -(-n_images // batch_size)  # ceil
    return max(1, -(-steps // steps_per_epoch))


def train_transfer(method: str, train: ImageDataset, test: ImageDataset, *,
                   seed: int = 0, steps: int = 300, lr: float = 0.05,
                   batch_size: int = 32, backbone: str = "convnet_cifar10_animals",
                   weights_dir: str | Path = WEIGHTS_DIR,
                   test_features: torch.Tensor | None = None,
                   device: str | torch.device | None = None) -> float:
    """One cell of the transfer table: train ``method`` on ``train``, return its
    accuracy on ``test``.

    - ``"scratch"``: a randomly initialised ConvNet of the backbone's shape, all
      layers trained;
    - ``"feature extraction"``: the pretrained body frozen. It never changes, so
      its embeddings (what the head sees, ``(N, 128)``) are computed once and only
      a new linear head is trained, on them;
    - ``"fine-tuning"``: the pretrained body with a new head, all layers trained,
      the body at 1/10 of the head's learning rate (:func:`param_groups`).

    Every method gets about ``steps`` SGD steps (momentum 0.9, weight decay 5e-4,
    cosine schedule) on batches of ``batch_size``; scratch and fine-tuning see
    crops and flips. ``seed`` fixes the initialisation and the batches.
    ``test_features`` (the frozen body's embeddings of ``test``) saves recomputing
    them for every feature-extraction cell. ``device``: default the CPU.
    """
    if method not in METHODS:
        raise ValueError(f"expected method in {METHODS}, got {method!r}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    normalize = Normalize(CIFAR10_MEAN, CIFAR10_STD)
    augment = Compose([RandomCrop(32, padding=4), HorizontalFlip(), normalize])
    num_classes = len(train.classes)
    torch.manual_seed(seed)
    common = dict(epochs=_epochs_for(steps, len(train), batch_size),
                  batch_size=batch_size, seed=seed, progress=False,
                  schedule=cosine_schedule(), device=device)

    if method == "feature extraction":
        body = load_pretrained(backbone, weights_dir).to(device)
        features = embed(body, train, transform=normalize)  # (N, 128)
        if test_features is None:
            test_features = embed(body, test, transform=normalize)  # (M, 128)
        head = nn.Linear(features.shape[1], num_classes)
        optimizer = torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9,
                                    weight_decay=5e-4)
        fit(head, (features, train.labels), optimizer=optimizer, **common)
        return evaluate(head, (test_features, test.labels))["acc"]

    if method == "scratch":
        model = convnet(num_classes)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9,
                                    weight_decay=5e-4)
    else:  # fine-tuning
        model = load_pretrained(backbone, weights_dir)
        replace_head(model, num_classes)
        optimizer = torch.optim.SGD(param_groups(model, lr, body_lr_factor=0.1),
                                    momentum=0.9, weight_decay=5e-4)
    fit(model, train, optimizer=optimizer, transform=augment, **common)
    return evaluate(model, test, transform=normalize)["acc"]


@dataclass
class TransferTable:
    """What :func:`transfer_table` measured: ``results[method][n]`` holds one test
    accuracy (a fraction) per seed, for ``n`` labelled images per class."""

    results: dict[str, dict[int, list[float]]]
    sizes: list[int]
    seeds: list[int]
    steps: int
    test_images: int
    seconds: float
    settings: dict = field(default_factory=dict)

    def mean(self, method: str, n: int) -> float:
        """Mean accuracy over the seeds, in points (percent)."""
        return 100 * statistics.mean(self.results[method][n])

    def std(self, method: str, n: int) -> float:
        """Standard deviation over the seeds, in points (0 for one seed)."""
        accs = [100 * a for a in self.results[method][n]]
        return statistics.stdev(accs) if len(accs) > 1 else 0.0

    def markdown(self) -> str:
        """A row per method, a column per size: mean ± std in points."""
        lines = ["| method | " + " | ".join(f"{n} / class" for n in self.sizes)
                 + " |", "| --- |" + " --- |" * len(self.sizes)]
        for method in METHODS:
            cells = [f"{self.mean(method, n):.1f} ± {self.std(method, n):.1f}"
                     for n in self.sizes]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """JSON-ready: sizes become string keys."""
        return {"results": {m: {str(n): accs for n, accs in by_n.items()}
                            for m, by_n in self.results.items()},
                "sizes": self.sizes, "seeds": self.seeds, "steps": self.steps,
                "test_images": self.test_images, "seconds": self.seconds,
                **self.settings, "table": self.markdown()}


def transfer_table(train: ImageDataset, test: ImageDataset,
                   sizes: Sequence[int] = (10, 50, 100),
                   seeds: Sequence[int] = (0, 1, 2), *, steps: int = 300,
                   lr: float = 0.05, batch_size: int = 32,
                   backbone: str = "convnet_cifar10_animals",
                   weights_dir: str | Path = WEIGHTS_DIR,
                   device: str | torch.device | None = None, progress: bool = True,
                   on_result: Callable[[str, int, int, float, float], None]
                   | None = None) -> TransferTable:
    """Scratch against feature extraction against fine-tuning, with few labels.

    For every size ``n`` and seed, ``per_class(train, n, seed)`` draws the labelled
    images, and each method of :data:`METHODS` is trained on them with
    :func:`train_transfer` and tested on all of ``test``. ``on_result(method, n,
    seed, accuracy, seconds_so_far)`` is called after every cell; ``progress``
    shows a bar over the cells. The README's table is
    ``transfer_table(*data.load("cifar10-vehicles")[:2])``: 316 s on two CPU cores.
    """
    from tqdm.auto import tqdm

    sizes, seeds = [int(n) for n in sizes], [int(s) for s in seeds]
    device = torch.device(device) if device is not None else torch.device("cpu")
    normalize = Normalize(CIFAR10_MEAN, CIFAR10_STD)
    body = load_pretrained(backbone, weights_dir).to(device)
    test_features = embed(body, test, transform=normalize)  # (M, 128), computed once
    results: dict[str, dict[int, list[float]]] = {
        m: {n: [] for n in sizes} for m in METHODS}
    started = time.perf_counter()
    bar = tqdm(total=len(sizes) * len(seeds) * len(METHODS), desc="transfer table",
               disable=not progress, dynamic_ncols=True)
    try:
        for n in sizes:
            for seed in seeds:
                labelled = per_class(train, n, seed=seed)
                for method in METHODS:
                    acc = train_transfer(method, labelled, test, seed=seed,
                                         steps=steps, lr=lr, batch_size=batch_size,
                                         backbone=backbone, weights_dir=weights_dir,
                                         test_features=test_features, device=device)
                    results[method][n].append(acc)
                    bar.update(1)
                    bar.set_postfix_str(f"{n}/class seed {seed} {method} "
                                        f"{100 * acc:.1f}%")
                    if on_result is not None:
                        on_result(method, n, seed, acc, time.perf_counter() - started)
    finally:
        bar.close()
    return TransferTable(results, sizes, seeds, steps, len(test),
                         time.perf_counter() - started,
                         {"lr": lr, "batch_size": batch_size, "backbone": backbone,
                          "device": str(device)})
