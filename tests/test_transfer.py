"""cnn_course.transfer: blocks, freezing, heads, two learning rates, embeddings,
nearest neighbours, and the shipped pretrained backbone."""

import json
import shutil

import pytest
import torch
from torch import nn

from cnn_course import data
from cnn_course.models import ConvNet, convnet, lenet5, resnet_cifar
from cnn_course.training import evaluate, fit
from cnn_course.transfer import (
    WEIGHTS_DIR,
    PretrainedError,
    activations,
    blocks,
    embed,
    freeze,
    head_name,
    load_pretrained,
    nearest_neighbors,
    param_groups,
    pretrained_info,
    replace_head,
    save_pretrained,
    trainable,
    unfreeze,
)
from train_helpers import (  # noqa: F401  (fixtures)
    TinyNet,
    blobs,
    cifar_cache,
    cifar_test,
    needs_cifar,
)

SHIPPED = "convnet_cifar10_animals"


def small_convnet(num_classes=4):
    torch.manual_seed(0)
    return convnet(num_classes, widths=(4, 8, 8))


# ---------------------------------------------------------------- blocks, freezing


def test_blocks_are_named_in_order():
    """ConvNet: block1..3 and head; LeNet's plain Sequentials open up into layers."""
    assert [n for n, _ in blocks(small_convnet())] == ["block1", "block2", "block3",
                                                       "head"]
    assert [n for n, _ in blocks(lenet5("modern"))] == [
        "features.c1", "features.c3", "classifier.c5", "classifier.f6",
        "classifier.output"]
    assert [n for n, _ in blocks(resnet_cifar(20))] == ["conv1", "bn1", "layer1",
                                                        "layer2", "layer3", "fc"]


def test_freeze_everything_then_unfreeze_the_head():
    """Feature extraction: only the head's weight and bias stay trainable."""
    model = small_convnet()
    freeze(model)
    assert trainable(model) == []
    unfreeze(model, "head")
    assert trainable(model) == ["head.weight", "head.bias"]


def test_freeze_by_depth_and_by_name():
    """depth=2 freezes the first two blocks; depth=-1 means the last block."""
    model = small_convnet()
    freeze(model, depth=2)
    frozen = {n.split(".")[0] for n, p in model.named_parameters()
              if not p.requires_grad}
    assert frozen == {"block1", "block2"}
    freeze(model)
    unfreeze(model, depth=-2)  # fine-tune the top: block3 and the head
    assert {n.split(".")[0] for n in trainable(model)} == {"block3", "head"}
    freeze(model, "block3")
    assert {n.split(".")[0] for n in trainable(model)} == {"head"}
    with pytest.raises(ValueError, match="no block 'block9'; blocks are"):
        freeze(model, "block9")
    with pytest.raises(ValueError, match="depth 7"):
        freeze(model, depth=7)


def test_frozen_batch_norm_keeps_its_running_statistics():
    """Under model.train(), frozen BN layers stay in eval mode; unfreeze undoes it."""
    model = small_convnet()
    bn = model.block1.bn1
    freeze(model, "block1")
    model.train()
    assert not bn.training and model.block2.bn1.training
    before = bn.running_mean.clone()
    model(torch.randn(4, 3, 32, 32) * 5 + 3)
    assert torch.equal(bn.running_mean, before)
    unfreeze(model)
    model.train()
    assert bn.training
    model(torch.randn(4, 3, 32, 32) * 5 + 3)
    assert not torch.equal(bn.running_mean, before)


def test_feature_extraction_trains_only_the_head():
    """fit with a frozen body changes the head and nothing else (BN stats included)."""
    torch.manual_seed(0)
    model = TinyNet()
    freeze(model)
    unfreeze(model, "head")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(param_groups(model, lr=0.1), momentum=0.9)
    fit(model, blobs(32), epochs=2, optimizer=optimizer, batch_size=8,
        progress=False, seed=0)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"head.weight", "head.bias"}


# ---------------------------------------------------------------- heads, groups


def test_replace_head_keeps_inputs_and_changes_outputs():
    """A new random head with num_classes outputs, for several architectures."""
    model = small_convnet(6)
    old = model.head
    new = replace_head(model, 4)
    assert model.head is new and new is not old
    assert (new.in_features, new.out_features) == (8, 4)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    modern = lenet5("modern")
    replace_head(modern, 2)
    assert head_name(modern) == "classifier.output"
    assert modern(torch.randn(2, 1, 32, 32)).shape == (2, 2)
    resnet = resnet_cifar(20)
    replace_head(resnet, 1)  # the lecture's one-output "hot dog?" classifier
    assert resnet.fc.out_features == 1
    assert resnet(torch.randn(2, 3, 32, 32)).shape == (2, 1)


def test_param_groups_give_the_body_a_tenth_of_the_learning_rate():
    """Body at lr/10, head at lr; frozen parameters are left out."""
    model = small_convnet()
    groups = param_groups(model, lr=0.01)
    assert [g["name"] for g in groups] == ["body", "head"]
    assert groups[0]["lr"] == pytest.approx(0.001) and groups[1]["lr"] == 0.01
    assert groups[1]["params"] == [model.head.weight, model.head.bias]
    n_body = sum(p.numel() for p in groups[0]["params"])
    assert n_body + 8 * 4 + 4 == sum(p.numel() for p in model.parameters())
    freeze(model, "block1")
    frozen = {id(p) for p in model.block1.parameters()}
    groups = param_groups(model, lr=0.01, body_lr_factor=0.5)
    assert not frozen & {id(p) for p in groups[0]["params"]}
    assert groups[0]["lr"] == pytest.approx(0.005)
    torch.optim.SGD(groups, momentum=0.9)  # usable as is
    freeze(model)
    with pytest.raises(ValueError, match="every parameter is frozen"):
        param_groups(model, lr=0.01)


# ---------------------------------------------------------------- embeddings


def test_embed_defaults_to_what_the_head_sees():
    """embed(model, X) is ConvNet.features(X), in eval mode, in the data's order."""
    model = small_convnet()
    model.train()
    X = torch.rand(10, 3, 32, 32)
    features = embed(model, (X, torch.zeros(10, dtype=torch.long)), batch_size=4)
    model.eval()
    with torch.no_grad():
        expected = model.features(X)
    assert features.shape == (10, 8)
    assert torch.allclose(features, expected, atol=1e-6)
    assert torch.allclose(embed(model, X), expected, atol=1e-6)


def test_embed_at_a_chosen_layer_pools_or_flattens():
    """block2's (N, 8, 8, 8) maps: averaged to (N, 8) or flattened to (N, 512)."""
    model = small_convnet()
    X = torch.rand(5, 3, 32, 32)
    maps = activations(model, X, ["block2"])["block2"]
    assert maps.shape == (5, 8, 8, 8)
    assert torch.allclose(embed(model, X, layer="block2"), maps.mean(dim=(2, 3)))
    assert torch.allclose(embed(model, X, layer="block2", pool="flatten"),
                          maps.flatten(1))
    with pytest.raises(ValueError, match="no layer"):
        embed(model, X, layer="block7")


def test_nearest_neighbors_match_brute_force():
    """l2 and cosine neighbours equal a brute-force search, nearest first."""
    g = torch.Generator().manual_seed(0)
    features, queries = torch.randn(50, 6, generator=g), torch.randn(7, 6, generator=g)
    dist, idx = nearest_neighbors(features, queries, "l2", k=4)
    brute = ((queries[:, None] - features[None]) ** 2).sum(-1).sqrt()  # (7, 50)
    expected_d, expected_i = brute.sort(dim=1)
    assert torch.equal(idx, expected_i[:, :4])
    assert torch.allclose(dist, expected_d[:, :4], atol=1e-5)
    dist, idx = nearest_neighbors(features, queries, "cosine", k=3)
    cos = torch.nn.functional.cosine_similarity(queries[:, None], features[None],
                                                dim=-1)
    expected_d, expected_i = (1 - cos).sort(dim=1)
    assert torch.equal(idx, expected_i[:, :3])
    assert torch.allclose(dist, expected_d[:, :3], atol=1e-5)
    # cosine ignores length: a scaled copy is at distance 0
    d, i = nearest_neighbors(features, 3.0 * features[[5]], "cosine", k=1)
    assert i.item() == 5 and d.item() == pytest.approx(0.0, abs=1e-6)


def test_nearest_neighbors_can_skip_each_query_itself():
    """exclude_self: a point is not its own neighbour; k is checked."""
    points = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
    _, idx = nearest_neighbors(points, points, "l2", k=1, exclude_self=True)
    assert idx.flatten().tolist() == [1, 0, 1, 2]
    with pytest.raises(ValueError, match="k=4 but there are 3"):
        nearest_neighbors(points, points, k=4, exclude_self=True)
    with pytest.raises(ValueError, match="'l2' or 'cosine'"):
        nearest_neighbors(points, points, "manhattan")


# ---------------------------------------------------------------- pretrained weights


def test_shipped_weights_are_small_documented_and_checked():
    """The shipped file is <= 10 MB; its metadata names data, command, accuracy, md5."""
    import hashlib

    info = pretrained_info(SHIPPED)
    weights = WEIGHTS_DIR / info["file"]
    assert weights.stat().st_size <= 10_000_000
    assert hashlib.md5(weights.read_bytes()).hexdigest() == info["md5"]
    assert info["arch"] == "convnet"
    assert info["command"].startswith("cnn-course pretrain")
    assert info["data"]["classes"] == data.CIFAR10_ANIMALS
    assert info["data"]["train_images"] == 30000 and not info["fast_mode"]
    assert 0.7 < info["test_accuracy"] <= 1.0
    model = load_pretrained(SHIPPED)
    assert isinstance(model, ConvNet) and model.head.out_features == 6
    assert not model.training and model.pretrained_info["md5"] == info["md5"]


@needs_cifar
def test_shipped_weights_reach_their_recorded_accuracy(cifar_test):
    """On 1,200 animal test images the backbone scores near its recorded accuracy."""
    from cnn_course.data.augment import Normalize

    info = pretrained_info(SHIPPED)
    keep = torch.isin(cifar_test.labels,
                      torch.tensor([data.CIFAR10_CLASSES.index(c)
                                    for c in data.CIFAR10_ANIMALS]))
    images, labels = cifar_test.images[keep], cifar_test.labels[keep]
    remap = {data.CIFAR10_CLASSES.index(c): i
             for i, c in enumerate(data.CIFAR10_ANIMALS)}
    labels = torch.tensor([remap[int(v)] for v in labels])
    subset = data.ImageDataset(images[::5], labels[::5], data.CIFAR10_ANIMALS)
    norm = Normalize(**info["data"]["normalize"])
    acc = evaluate(load_pretrained(SHIPPED), subset, transform=norm)["acc"]
    assert abs(acc - info["test_accuracy"]) < 0.04, (acc, info["test_accuracy"])


def test_corrupted_weights_are_refused(tmp_path):
    """One flipped byte in the weight file: the md5 check stops the load."""
    for suffix in (".pt", ".json"):
        shutil.copy(WEIGHTS_DIR / f"{SHIPPED}{suffix}", tmp_path)
    raw = bytearray((tmp_path / f"{SHIPPED}.pt").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (tmp_path / f"{SHIPPED}.pt").write_bytes(bytes(raw))
    with pytest.raises(PretrainedError, match="corrupted: md5"):
        load_pretrained(SHIPPED, folder=tmp_path)


def test_weights_for_another_architecture_are_refused(tmp_path):
    """Metadata that promises other widths: the shapes are named in the error."""
    model = convnet(3, widths=(4, 8, 8))
    save_pretrained(model, "toy", "convnet", {"num_classes": 3, "widths": [4, 8, 8]},
                    {"note": "test"}, tmp_path)
    assert isinstance(load_pretrained("toy", folder=tmp_path), ConvNet)
    info = json.loads((tmp_path / "toy.json").read_text())
    info["arch_kwargs"]["widths"] = [4, 8, 16]
    (tmp_path / "toy.json").write_text(json.dumps(info))
    with pytest.raises(PretrainedError) as err:
        load_pretrained("toy", folder=tmp_path)
    assert "does not fit architecture convnet" in str(err.value)
    assert "block3.bn1.bias: file (8,), architecture (16,)" in str(err.value)
    with pytest.raises(PretrainedError, match="no weights named 'absent'"):
        load_pretrained("absent", folder=tmp_path)


def test_pretrained_body_transfers_to_a_new_head():
    """The lecture's recipe runs end to end on the shipped backbone."""
    model = load_pretrained(SHIPPED)
    replace_head(model, 4)
    freeze(model)
    unfreeze(model, "head")
    X = torch.rand(8, 3, 32, 32)
    y = torch.arange(8) % 4
    before = model.block1.conv1.weight.clone()
    fit(model, (X, y), epochs=1, optimizer=torch.optim.SGD(param_groups(model, 0.01)),
        batch_size=4, progress=False, seed=0)
    assert torch.equal(model.block1.conv1.weight, before)
    assert model(X).shape == (8, 4)


def test_unused_layers_do_not_break_blocks():
    """A model whose child has no parameters (ReLU) lists only parameterised blocks."""
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert [n for n, _ in blocks(model)] == ["0", "2"]
