"""cnn_course.data: where files are found, downloads, checksums, every loader."""

import gzip
import shutil
import tarfile
import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image

from cnn_course import data
from cnn_course.data import cifar, sources
from train_helpers import (  # noqa: F401  (fixtures)
    DATASETS,
    cifar_cache,
    cifar_test,
    folder_listing,
    isolated_cache,
    needs_cifar,
    needs_fashion,
    needs_mnist,
)

LABELS = "t10k-labels-idx1-ubyte.gz"


def no_network(url, output_file, pooch):
    raise urllib.error.URLError("no network in this test")


# ---------------------------------------------------------------- data root, cache


def test_data_root_prefers_argument_then_environment_then_cache(tmp_path,
                                                                monkeypatch):
    """Explicit root wins over CNN_COURSE_DATA, which wins over the XDG cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CNN_COURSE_DATA", raising=False)
    assert data.data_root() == tmp_path / "xdg" / "cnn_course"
    assert data.cache_dir() == tmp_path / "xdg" / "cnn_course"
    monkeypatch.setenv("CNN_COURSE_DATA", str(tmp_path / "env"))
    assert data.data_root() == tmp_path / "env"
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data.cache_dir(tmp_path / "c") == tmp_path / "c"


def test_cache_defaults_to_home_dot_cache(monkeypatch, tmp_path):
    """Without XDG_CACHE_HOME the cache is ~/.cache/cnn_course."""
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / ".cache" / "cnn_course"


# ---------------------------------------------------------------- MNIST, Fashion


@needs_mnist
def test_mnist_shapes_dtypes_ranges_and_known_labels():
    """60k/10k uint8 (N, 1, 28, 28) digits; first labels 5 0 4 1 9 and 7 2 1 0 4."""
    train = data.mnist("train", DATASETS, download=False)
    test = data.mnist("test", DATASETS, download=False)
    assert train.images.shape == (60000, 1, 28, 28)
    assert test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert test.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert test.labels.bincount().tolist()[:2] == [980, 1135]
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0
    assert abs(train.images.float().mean().item() / 255 - 0.1307) < 1e-3
    x, y = test[0]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28)
    assert 0.0 <= x.min() and x.max() <= 1.0 and int(y) == 7
    X, Y = data.mnist("test", DATASETS, limit=100).tensors()
    assert X.shape == (100, 1, 28, 28) and torch.equal(Y, test.labels[:100])


@needs_mnist
def test_mnist_found_through_the_environment_variable(monkeypatch, isolated_cache):
    """CNN_COURSE_DATA names the data root when no argument is given."""
    monkeypatch.setenv("CNN_COURSE_DATA", str(DATASETS))
    ds = data.mnist("test", download=False, limit=10, downloader=no_network)
    assert ds.labels.tolist()[:3] == [7, 2, 1]
    assert not isolated_cache.exists()  # nothing written to the cache


@needs_fashion
def test_fashion_mnist_test_split():
    """10k clothes images, classes named, first test label 9 (ankle boot)."""
    ds = data.fashion_mnist("test", DATASETS, download=False)
    assert ds.images.shape == (10000, 1, 28, 28)
    assert ds.classes[9] == "Ankle boot" and int(ds.labels[0]) == 9
    assert ds.labels.bincount().tolist() == [1000] * 10


def test_bad_split_is_rejected():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.mnist("validation", "/nonexistent")


# ---------------------------------------------------------------- corrupted files


@needs_mnist
def test_wrong_md5_fails_clearly_and_is_never_read(tmp_path):
    """A file with one changed byte raises DataError naming the file and the md5s."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in data.MNIST_FILES:
        if name.startswith("t10k"):
            shutil.copy(DATASETS / "mnist" / name, folder / name)
    raw = bytearray((folder / LABELS).read_bytes())
    raw[-20] ^= 0xFF
    (folder / LABELS).write_bytes(bytes(raw))
    with pytest.raises(data.DataError) as err:
        data.mnist("test", tmp_path, cache=tmp_path / "cache", download=False)
    message = str(err.value)
    assert LABELS in message and "md5" in message
    assert data.MNIST_FILES[LABELS] in message and "corrupted" in message


@needs_mnist
def test_truncated_gzip_fails_clearly(tmp_path):
    """Half a gzip file: the loader's md5 check and read_idx both refuse it."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in data.MNIST_FILES:
        if name.startswith("t10k"):
            shutil.copy(DATASETS / "mnist" / name, folder / name)
    full = (folder / LABELS).read_bytes()
    (folder / LABELS).write_bytes(full[: len(full) // 2])
    with pytest.raises(data.DataError, match="corrupted or incomplete"):
        data.mnist("test", tmp_path, cache=tmp_path / "cache", download=False)
    with pytest.raises(data.DataError, match="not a complete gzip file"):
        data.read_idx(folder / LABELS)


def test_read_idx_checks_header_and_length(tmp_path):
    """A good idx round-trips; a short payload or a bad header is a DataError."""
    values = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 0x08, 3]) + b"".join(
        int(d).to_bytes(4, "big") for d in values.shape)
    good = tmp_path / "good-idx3-ubyte.gz"
    with gzip.open(good, "wb") as f:
        f.write(header + values.tobytes())
    assert np.array_equal(data.read_idx(good), values)
    short = tmp_path / "short-idx3-ubyte.gz"
    with gzip.open(short, "wb") as f:
        f.write(header + values.tobytes()[:-5])
    with pytest.raises(data.DataError, match="truncated"):
        data.read_idx(short)
    bad = tmp_path / "bad-idx3-ubyte"
    bad.write_bytes(b"\x1f\x8bnot an idx file")
    with pytest.raises(data.DataError, match="not an idx file"):
        data.read_idx(bad)


# ---------------------------------------------------------------- downloads


def _payload(tmp_path, content=b"course data " * 1000):
    source = tmp_path / "served" / "file.bin"
    source.parent.mkdir()
    source.write_bytes(content)
    return source, data.md5sum(source)


def test_download_from_a_file_url_checks_md5_and_renames(tmp_path):
    """A file:// download lands at its name with the right md5 and no temp file."""
    source, md5 = _payload(tmp_path)
    target = tmp_path / "dest" / "file.bin"
    data.download(source.as_uri(), target, md5, progress=False)
    assert target.read_bytes() == source.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_corrupted_download_leaves_nothing_behind(tmp_path):
    """A payload with the wrong md5 raises and leaves the folder empty."""
    source, _ = _payload(tmp_path)
    target = tmp_path / "dest" / "file.bin"
    with pytest.raises(data.DataError, match="corrupted or incomplete"):
        data.download(source.as_uri(), target, "0" * 32, progress=False)
    assert list(target.parent.iterdir()) == []


def test_interrupted_download_leaves_nothing_behind(tmp_path):
    """A connection that dies mid-stream raises and leaves no partial file."""

    def dying(url, output_file, pooch):
        with open(output_file, "wb") as out:
            for _ in range(3):
                out.write(b"x" * 65536)
            raise ConnectionResetError("connection reset by peer")

    target = tmp_path / "dest" / "file.bin"
    with pytest.raises(data.DataError, match="connection reset"):
        data.download("https://example.org/file.bin", target, None,
                      downloader=dying, progress=False)
    assert list(target.parent.iterdir()) == []


def test_missing_file_without_network_names_file_url_and_folder(tmp_path):
    """No file, no network: the message says what to download and where to put it."""
    root = tmp_path / "root"
    with pytest.raises(data.DataError) as err:
        data.mnist("test", root, cache=tmp_path / "cache", downloader=no_network)
    message = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert "http://yann.lecun.com/exdb/mnist/t10k-images-idx3-ubyte.gz" in message
    assert str(root / "mnist") in message
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@needs_mnist
def test_fetch_downloads_into_the_root_and_checks_md5(tmp_path):
    """A missing file is "downloaded" (from a local mirror) into the data root."""
    remote = data.RemoteFile(LABELS, data.MNIST_FILES[LABELS],
                             ((DATASETS / "mnist" / LABELS).as_uri(),))
    path = data.fetch(remote, "mnist", tmp_path / "root", cache=tmp_path / "cache",
                      progress=False)
    assert path == tmp_path / "root" / "mnist" / LABELS
    assert data.md5sum(path) == data.MNIST_FILES[LABELS]
    assert not (tmp_path / "cache").exists()


@needs_mnist
def test_fetch_never_writes_into_a_read_only_root(tmp_path, monkeypatch):
    """When the data root is not writable, the download goes to the cache."""
    root = tmp_path / "readonly"
    root.mkdir()
    monkeypatch.setattr(sources, "_writable", lambda folder: folder != root)
    remote = data.RemoteFile(LABELS, data.MNIST_FILES[LABELS],
                             ((DATASETS / "mnist" / LABELS).as_uri(),))
    path = data.fetch(remote, "mnist", root, cache=tmp_path / "cache", progress=False)
    assert path == tmp_path / "cache" / "mnist" / LABELS
    assert list(root.iterdir()) == []
    # found there the next time, without any network
    again = data.fetch(remote.__class__(LABELS, remote.md5, ("https://no.where/x",)),
                       "mnist", root, cache=tmp_path / "cache",
                       download_missing=False)
    assert again == path


# ---------------------------------------------------------------- CIFAR-10


@needs_cifar
def test_cifar10_jpeg_copy_decodes_to_the_published_arrays(cifar_test):
    """Test split: 10k uint8 (N, 3, 32, 32), 1000 per class, array md5 as documented."""
    import hashlib

    assert cifar_test.images.shape == (10000, 3, 32, 32)
    assert cifar_test.classes == data.CIFAR10_CLASSES
    assert cifar_test.labels.bincount().tolist() == [1000] * 10
    hwc = cifar_test.images.permute(0, 2, 3, 1).contiguous().numpy()
    assert hashlib.md5(hwc.tobytes()).hexdigest() == data.CIFAR10_JPG_ARRAY_MD5["test"]


@needs_cifar
def test_cifar10_extracts_into_the_cache_never_next_to_the_tarball(cifar_test,
                                                                   cifar_cache):
    """The read-only copy is untouched; the extraction lives in the cache."""
    before = folder_listing(DATASETS / "cifar10-jpg")
    ds = data.cifar10("test", DATASETS, cache=cifar_cache, download=False,
                      classes=data.CIFAR10_VEHICLES)
    assert folder_listing(DATASETS / "cifar10-jpg") == before
    assert before == [("cifar10-jpg.tar.gz", 19_642_801)]
    assert (cifar_cache / "cifar10-jpg" / "extracted" / "test" / "truck").is_dir()
    # a class subset is relabelled 0..3 in the order asked for
    assert ds.classes == data.CIFAR10_VEHICLES and len(ds) == 4000
    trucks = cifar_test.images[cifar_test.labels == 9]
    assert torch.equal(ds.images[ds.labels == 3], trucks)


def test_cifar10_reads_the_official_python_format(tmp_path):
    """The pickled batches of cifar-10-python.tar.gz become (N, 3, 32, 32) uint8."""
    import io
    import pickle

    rng = np.random.default_rng(0)
    tarball = tmp_path / "cifar-10-python.tar.gz"
    batches = {}
    with tarfile.open(tarball, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8),
                     "labels": rng.integers(0, 10, 3).tolist()}
            batches[name] = batch
            raw = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    images, labels = cifar._read_cifar_python(tarball, "test")
    assert images.shape == (3, 3, 32, 32)
    # row-major 3072 = 3 channels of 32x32: the red plane comes first
    assert np.array_equal(images[1, 0].ravel(), batches["test_batch"]["data"][1, :1024])
    assert labels.tolist() == batches["test_batch"]["labels"]
    train_images, _ = cifar._read_cifar_python(tarball, "train")
    assert train_images.shape == (15, 3, 32, 32)


# ---------------------------------------------------------------- image folders


def _write_folder(root, sizes=((6, 5), (6, 5))):
    rng = np.random.default_rng(1)
    arrays = {}
    for cls, (h, w) in zip(("zebra", "ant"), sizes):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            array = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(array).save(root / cls / f"{i:03d}.png")
            arrays[(cls, i)] = array
    (root / "ant" / "notes.txt").write_text("not an image")
    return arrays


def test_image_folder_reads_classes_in_sorted_order(tmp_path):
    """Sub-folders are classes (sorted); PNG pixels come back exactly, as (C, H, W)."""
    arrays = _write_folder(tmp_path)
    ds = data.image_folder(tmp_path)
    assert ds.classes == ["ant", "zebra"]
    assert ds.images.shape == (6, 3, 6, 5) and ds.labels.tolist() == [0] * 3 + [1] * 3
    assert np.array_equal(ds.images[4].permute(1, 2, 0).numpy(), arrays[("zebra", 1)])
    gray = data.image_folder(tmp_path, channels=1, classes=["zebra"])
    assert gray.images.shape == (3, 1, 6, 5) and gray.classes == ["zebra"]


def test_image_folder_needs_one_size_or_a_resize(tmp_path):
    """Mixed sizes fail with advice; size=... resizes every image."""
    _write_folder(tmp_path, sizes=((6, 5), (9, 7)))
    with pytest.raises(data.DataError, match="pass size="):
        data.image_folder(tmp_path)
    ds = data.image_folder(tmp_path, size=(4, 8))
    assert ds.images.shape == (6, 3, 4, 8)


def test_image_folder_errors_name_the_problem(tmp_path):
    """No folder, no classes, an unknown class, a broken image: clear DataErrors."""
    with pytest.raises(data.DataError, match="no folder"):
        data.image_folder(tmp_path / "missing")
    with pytest.raises(data.DataError, match="no class sub-folders"):
        data.image_folder(tmp_path)
    _write_folder(tmp_path)
    with pytest.raises(data.DataError, match="no sub-folder for"):
        data.image_folder(tmp_path, classes=["bee"])
    (tmp_path / "ant" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(data.DataError, match="cannot read image"):
        data.image_folder(tmp_path)


# ---------------------------------------------------------------- embedded data


def test_digits_are_scaled_to_uint8():
    """1797 digits, (N, 1, 8, 8), 0..16 scaled to 0..255, labels 0..9."""
    from sklearn.datasets import load_digits

    ds = data.digits()
    assert ds.images.shape == (1797, 1, 8, 8) and ds.images.dtype == torch.uint8
    original = load_digits()
    assert ds.labels.tolist() == original.target.tolist()
    expected = np.round(original.images[0] * 255 / 16)
    assert np.array_equal(ds.images[0, 0].numpy(), expected)
    assert int(ds.images.max()) == 255


def test_sample_photos():
    """Colour photos come as (3, H, W), gray ones as (1, H, W), uint8."""
    cat = data.photo("cat")
    assert cat.shape == (3, 300, 451) and cat.dtype == torch.uint8
    assert data.photo("camera").shape == (1, 512, 512)
    assert data.photo("china").shape == (3, 427, 640)
    with pytest.raises(ValueError, match="choose one of"):
        data.photo("eagle")


def test_per_class_draws_n_of_each_class_reproducibly():
    """per_class(ds, 5) has 5 examples per class; the seed fixes which."""
    ds = data.digits()
    few = data.per_class(ds, 5, seed=3)
    assert few.labels.bincount().tolist() == [5] * 10
    assert torch.equal(few.images, data.per_class(ds, 5, seed=3).images)
    assert not torch.equal(few.images, data.per_class(ds, 5, seed=4).images)
    with pytest.raises(ValueError, match="has only"):
        data.per_class(ds, 500)


# ---------------------------------------------------------------- shapes


def test_shapes_are_seeded_and_masks_match_labels():
    """Same seed, same images; masks are 0 or label + 1, and mark the shape."""
    ds = data.shapes(60, size=24, seed=5)
    again = data.shapes(60, size=24, seed=5)
    assert torch.equal(ds.images, again.images) and torch.equal(ds.masks, again.masks)
    assert not torch.equal(ds.images, data.shapes(60, size=24, seed=6).images)
    assert ds.images.shape == (60, 3, 24, 24) and ds.masks.shape == (60, 24, 24)
    assert set(ds.labels.tolist()) == {0, 1, 2}
    for i in range(60):
        values = set(ds.masks[i].unique().tolist())
        assert values == {0, int(ds.labels[i]) + 1}
        inside = ds.masks[i] > 0
        # the shape's colour differs from the background's (beyond the noise)
        image = ds.images[i].float()
        gap = (image[:, inside].mean(1) - image[:, ~inside].mean(1)).abs().max()
        assert gap > 60
    x, y, mask = ds[0]
    assert x.shape == (3, 24, 24) and mask.shape == (24, 24)


def test_shapes_geometry():
    """A square fills its bounding box; a circle fills about pi/4 of it; a
    triangle about half or less."""
    ds = data.shapes(90, size=64, seed=0, noise=0.0)
    fill = {0: [], 1: [], 2: []}
    for i in range(90):
        rows, cols = torch.nonzero(ds.masks[i], as_tuple=True)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        fill[int(ds.labels[i])].append(len(rows) / box.item())
    assert min(fill[1]) > 0.97  # squares
    assert all(0.7 < f < 0.85 for f in fill[0])  # circles: pi / 4 = 0.785
    assert all(0.3 < f < 0.6 for f in fill[2])  # triangles
