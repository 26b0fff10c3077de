"""Tests of leae_hub.data: every source on small data built here, plus the real data sets when present."""

import gzip
import pickle
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import IterableDataset

from leae_hub.data import (
    DATA_SOURCES,
    SHORTCUTS,
    SOURCES,
    ImageFolderSource,
    Source,
    SourceRequest,
    UnreadableImageError,
    build_dataset,
    data_dir,
    make_dataloader,
    register_source,
    to_pixel_values,
)
from leae_hub.zoo import DATA_SOURCES as ZOO_DATA_SOURCES

datasets = pytest.importorskip("datasets")


def _rgb(seed: int, size: tuple[int, int] = (12, 10)) -> Image.Image:
    """A random RGB image of (width, height) ``size``."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


# --------------------------------------------------------------------------------------------------------------------
# to_pixel_values
# --------------------------------------------------------------------------------------------------------------------


def test_to_pixel_values_modes_and_arrays():
    rgba = Image.new("RGBA", (6, 6), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent: white after compositing
    out = to_pixel_values(rgba, 6)
    assert out.shape == (3, 6, 6) and out.dtype == torch.float32
    assert out[:, 0, 0].tolist() == [1.0, 1.0, 1.0] and out[:, 1, 1].tolist() == [1.0, 0.0, 0.0]

    sixteen = Image.fromarray(np.array([[0, 65535], [32768, 1000]], dtype=np.uint16))
    assert sixteen.mode.startswith("I;16")
    out = to_pixel_values(sixteen, 2)
    assert out.shape == (1, 2, 2)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 1.0], [32768 / 65535, 1000 / 65535]]))
    assert to_pixel_values(sixteen, 2, channels=3).shape == (3, 2, 2)

    for image in (
        Image.new("L", (5, 5), 128),
        Image.new("LA", (5, 5), (128, 255)),
        Image.new("CMYK", (5, 5), (0, 255, 0, 0)),
        _rgb(0).convert("P"),
        Image.new("1", (5, 5), 1),
        Image.new("I", (5, 5), 300),
        Image.new("F", (5, 5), 0.25),
    ):
        out = to_pixel_values(image, 4, channels=3)
        assert out.shape == (3, 4, 4) and 0.0 <= out.min() and out.max() <= 1.0, image.mode

    torch.testing.assert_close(to_pixel_values(np.full((3, 3), 255, np.uint8), 3), torch.ones(1, 3, 3))
    torch.testing.assert_close(to_pixel_values(np.full((3, 3, 3), 0.5, np.float32), 3), torch.full((3, 3, 3), 0.5))
    with pytest.warns(UserWarning, match="could be HWC or CHW"):  # 3 rows of RGBA, or 3 channels of 3×4?
        assert to_pixel_values(np.zeros((3, 3, 4), np.uint16), 3).shape == (3, 3, 3)
    with pytest.raises(TypeError, match="dtype"):
        to_pixel_values(np.zeros((3, 3), np.int64), 3)
    with pytest.raises(ValueError, match="shape"):
        to_pixel_values(np.zeros((3, 8, 8, 2), np.uint8), 3)
    assert to_pixel_values(np.zeros((3, 8, 8), np.uint8), 8).shape == (3, 8, 8)  # [C, H, W], as the processor


def test_to_pixel_values_resizes_shorter_side_and_centre_crops():
    array = np.zeros((20, 40, 3), np.uint8)  # H 20, W 40: red left, blue right (6 columns each), green middle
    array[:, :6, 0] = 255
    array[:, 34:, 2] = 255
    array[:, 6:34, 1] = 255
    out = to_pixel_values(array, 10)
    assert out.shape == (3, 10, 10)
    green = torch.zeros(3, 10, 10)
    green[1] = 1.0
    torch.testing.assert_close(out, green, atol=1e-5, rtol=0)  # the centre crop keeps only the green middle
    grey = to_pixel_values(array, 10, channels=1)
    torch.testing.assert_close(grey, torch.full((1, 10, 10), 0.587), atol=1e-5, rtol=0)  # luminance of green


# --------------------------------------------------------------------------------------------------------------------
# Procedural sources
# --------------------------------------------------------------------------------------------------------------------


def test_synthetic_shapes_deterministic_and_split_dependent():
    first = build_dataset("synthetic-shapes", image_size=32, seed=3)
    again = build_dataset("synthetic-shapes", image_size=32, seed=3)
    test = build_dataset("synthetic-shapes", split="test", image_size=32, seed=3)
    other_seed = build_dataset("synthetic-shapes", image_size=32, seed=4)
    assert len(first) == 50_000 and len(test) == 1_000
    for index in (0, 7, 49_999):
        item = first[index]
        assert torch.equal(item["pixel_values"], first[index]["pixel_values"])
        assert torch.equal(item["pixel_values"], again[index]["pixel_values"])
        assert item["labels"] == again[index]["labels"]
    for index in range(5):
        assert not torch.equal(first[index]["pixel_values"], test[index]["pixel_values"])
        assert not torch.equal(first[index]["pixel_values"], other_seed[index]["pixel_values"])


@pytest.mark.parametrize("size", [16, 32, 64, 128])
def test_synthetic_shapes_sizes_values_and_labels(size):
    dataset = build_dataset("synthetic-shapes:40", image_size=size)
    assert len(dataset) == 40
    items = [dataset[index] for index in range(40)]
    pixels = torch.stack([item["pixel_values"] for item in items])
    assert pixels.shape == (40, 3, size, size) and pixels.dtype == torch.float32
    assert 0.0 <= pixels.min() and pixels.max() <= 1.0
    assert pixels.flatten(1).std(dim=1).min() > 0.02  # never a constant image: shapes differ from the background
    assert all(item["labels"].dtype == torch.int64 for item in items)
    assert {int(item["labels"]) for item in items} == {0, 1, 2, 3}
    with pytest.raises(IndexError):
        dataset[40]


def test_synthetic_shapes_grey_and_streaming():
    grey = build_dataset("synthetic-shapes:4", image_size=16, channels=1)
    colour = build_dataset("synthetic-shapes:4", image_size=16)
    assert grey[0]["pixel_values"].shape == (1, 16, 16)
    weights = torch.tensor([0.299, 0.587, 0.114])[:, None, None]
    torch.testing.assert_close(grey[0]["pixel_values"][0], (colour[0]["pixel_values"] * weights).sum(0))
    stream = build_dataset("synthetic-shapes:4", image_size=16, streaming=True)
    assert isinstance(stream, IterableDataset)
    items = list(stream)
    assert len(items) == 4
    assert all(torch.equal(item["pixel_values"], colour[i]["pixel_values"]) for i, item in enumerate(items))


def test_mog_2d():
    dataset = build_dataset("mog-2d:500", seed=1)
    again = build_dataset("mog-2d:500", seed=1)
    test = build_dataset("mog-2d:500", split="test", seed=1)
    assert len(dataset) == 500
    item = dataset[0]
    assert item["points"].shape == (2,) and item["points"].dtype == torch.float32
    assert item["labels"].dtype == torch.int64
    assert torch.equal(dataset.points, again.points) and not torch.equal(dataset.points, test.points)
    assert set(dataset.labels.tolist()) == set(range(8))
    distance = (dataset.points - torch.from_numpy(dataset.centres)[dataset.labels]).norm(dim=1)
    assert distance.max() < 0.6 and 0.08 < distance.pow(2).mean().div(2).sqrt() < 0.12  # std 0.1 per axis


def test_unknown_spec_lists_forms():
    with pytest.raises(FileNotFoundError, match="synthetic-shapes"):
        build_dataset("no-such-source")
    with pytest.raises(ValueError, match="whole number"):
        build_dataset("synthetic-shapes:many")
    with pytest.raises(TypeError, match="max_shapes"):
        build_dataset("mog-2d", max_shapes=2)
    assert "synthetic-shapes[:N]" in DATA_SOURCES


@pytest.fixture
def source_registry():
    """The registry of data sources as it was before the test, once it is over."""
    saved = dict(SOURCES), dict(DATA_SOURCES)
    yield
    for registry, before in zip((SOURCES, DATA_SOURCES), saved, strict=True):
        registry.clear()
        registry.update(before)


def test_a_registered_source_is_one_class_and_its_prefix_a_spec(source_registry):
    """A new data source is one `@register_source` class: its prefix becomes a spec, its form a line of the list."""

    class Constant(torch.utils.data.Dataset):
        def __init__(self, request: SourceRequest, value: float) -> None:
            self.request, self.value = request, value

        def __len__(self) -> int:
            return int(self.request.target)

        def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
            return {"pixel_values": torch.full((3, 4, 4), self.value), "labels": torch.tensor(-1)}

    @register_source
    class ConstantSource(Source):
        kinds = ("constant",)
        forms = {"constant:N": "N grey images"}

        @classmethod
        def build(cls, request: SourceRequest, options: dict) -> torch.utils.data.Dataset:
            return Constant(request, **options)

    dataset = build_dataset("constant:3", split="test", image_size=4, value=0.5)
    assert len(dataset) == 3 and dataset.request.split == "test" and float(dataset[0]["pixel_values"].mean()) == 0.5
    assert DATA_SOURCES["constant:N"] == "N grey images" and SOURCES["constant"] is ConstantSource
    assert [item["pixel_values"].shape for item in build_dataset("constant:2", streaming=True, value=0.0)] == [
        (3, 4, 4)
    ] * 2  # not a streaming source: read in order
    with pytest.raises(FileNotFoundError, match="constant:N: N grey images"):
        build_dataset("no-such-source")

    class Taken(Source):
        kinds, forms = ("zip",), {"zip again": "a second zip reader"}

    with pytest.raises(ValueError, match="'zip' is already taken"):
        register_source(Taken)


def test_the_zoo_trains_on_shortcuts_and_hub_datasets():
    """The zoo's card texts are keyed by data specs this package resolves: a shortcut, or a Hub id."""
    for spec in ZOO_DATA_SOURCES:
        assert spec in SHORTCUTS or re.fullmatch(r"[\w.-]+/[\w.-]+", spec), spec


# --------------------------------------------------------------------------------------------------------------------
# Image folders and zips
# --------------------------------------------------------------------------------------------------------------------


def _image_tree(root: Path) -> None:
    """train/{cat,dog} and test/dog with images of several modes and formats."""
    for folder in ("train/cat", "train/dog", "test/dog"):
        (root / folder).mkdir(parents=True)
    Image.new("RGBA", (10, 12), (255, 0, 0, 128)).save(root / "train/cat/a.png")
    Image.new("L", (12, 10), 77).save(root / "train/cat/b.png")
    Image.fromarray(np.full((9, 9), 40000, np.uint16)).save(root / "train/dog/c.png")
    _rgb(1).save(root / "train/dog/d.jpg", quality=95)
    _rgb(2).convert("P").save(root / "test/dog/e.png")
    (root / "train/dog/notes.txt").write_text("not an image")


def _zip_tree(root: Path, archive: Path, prefix: str = "") -> None:
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(f"{prefix}train/", "")
        handle.writestr("__MACOSX/._a.png", b"junk")
        for file in sorted(root.rglob("*")):
            if file.is_file():
                handle.write(file, prefix + file.relative_to(root).as_posix())


def test_image_folder_labels_splits_and_modes(tmp_path):
    _image_tree(tmp_path / "data")
    train = build_dataset(str(tmp_path / "data"), image_size=8)
    assert isinstance(train, ImageFolderSource)
    assert train.classes == ["cat", "dog"] and train.labels == [0, 0, 1, 1] and len(train) == 4
    for index in range(4):
        item = train[index]
        assert item["pixel_values"].shape == (3, 8, 8)
        assert 0.0 <= item["pixel_values"].min() and item["pixel_values"].max() <= 1.0
    torch.testing.assert_close(train[1]["pixel_values"], torch.full((3, 8, 8), 77 / 255))  # L repeated
    torch.testing.assert_close(train[2]["pixel_values"], torch.full((3, 8, 8), 40000 / 65535))  # 16-bit PNG
    red_on_white = torch.tensor([1.0, 127 / 255, 127 / 255])[:, None, None].expand(3, 8, 8)
    torch.testing.assert_close(train[0]["pixel_values"], red_on_white, atol=2 / 255, rtol=0)  # RGBA on white

    test = build_dataset(f"folder:{tmp_path / 'data'}", split="test", image_size=8, channels=1)
    assert len(test) == 1 and test.labels == [1]  # class ids from the union of splits
    assert test[0]["pixel_values"].shape == (1, 8, 8)
    with pytest.raises(ValueError, match="validation"):
        build_dataset(str(tmp_path / "data"), split="validation")


def test_zip_matches_folder_and_is_picklable(tmp_path):
    _image_tree(tmp_path / "data")
    _zip_tree(tmp_path / "data", tmp_path / "data.zip", prefix="data/")  # a wrapper folder is looked through
    folder = build_dataset(str(tmp_path / "data"), image_size=8)
    archive = build_dataset(f"zip:{tmp_path / 'data.zip'}", image_size=8)
    assert archive.files[0] == "data/train/cat/a.png" and archive.labels == folder.labels
    for index in range(len(folder)):
        assert torch.equal(archive[index]["pixel_values"], folder[index]["pixel_values"])
    copy = pickle.loads(pickle.dumps(archive))  # the open ZipFile is not pickled; the copy re-opens it
    assert copy._archive is None and torch.equal(copy[3]["pixel_values"], archive[3]["pixel_values"])
    assert len(build_dataset(str(tmp_path / "data.zip"), split="test")) == 1


def test_zip_dataloader_with_workers(tmp_path):
    _image_tree(tmp_path / "data")
    _zip_tree(tmp_path / "data", tmp_path / "data.zip")
    dataset = build_dataset(str(tmp_path / "data.zip"), image_size=8)
    dataset[0]  # the parent holds an open archive before the workers fork
    loader = make_dataloader(dataset, batch_size=2, shuffle=False, num_workers=2, drop_last=False)
    batches = list(loader)
    pixels = torch.cat([batch["pixel_values"] for batch in batches])
    assert pixels.shape == (4, 3, 8, 8) and torch.cat([batch["labels"] for batch in batches]).tolist() == [0, 0, 1, 1]
    assert torch.equal(pixels, torch.stack([dataset[i]["pixel_values"] for i in range(4)]))
    shuffled = [b["labels"] for b in make_dataloader(dataset, batch_size=4, seed=5)]
    assert torch.equal(shuffled[0], [b["labels"] for b in make_dataloader(dataset, batch_size=4, seed=5)][0])


def test_flat_and_unsplit_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    for index in range(3):
        _rgb(index).save(tmp_path / "flat" / f"{index}.png")
    flat_train = build_dataset(str(tmp_path / "flat"), image_size=8)
    flat_test = build_dataset(str(tmp_path / "flat"), split="test", image_size=8)
    assert flat_train.labels == [-1, -1, -1] and flat_train.classes == [] and flat_train.files == flat_test.files
    assert flat_train[0]["labels"] == -1

    for name in ("ant", "bee"):
        (tmp_path / "classes" / name).mkdir(parents=True)
        _rgb(0).save(tmp_path / "classes" / name / "x.png")
    classes = build_dataset(str(tmp_path / "classes"), split="test", image_size=8)
    assert classes.classes == ["ant", "bee"] and classes.labels == [0, 1]


def test_corrupt_image_is_skipped_and_counted(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "0.jpg").write_bytes(b"this is not a jpeg" * 10)
    _rgb(0).save(tmp_path / "bad" / "1.png")
    dataset = build_dataset(str(tmp_path / "bad"), image_size=8)
    assert len(dataset) == 2
    with pytest.raises(UnreadableImageError, match="0.jpg is unreadable"):
        dataset[0]  # never replaced by another image
    with pytest.warns(RuntimeWarning, match="skipped 1 unreadable"):
        items = dataset.__getitems__([0, 1])  # what a DataLoader fetches: the readable ones
    assert len(items) == 1 and torch.equal(items[0]["pixel_values"], dataset[1]["pixel_values"])
    assert dataset.num_skipped == 1


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "empty"))):
        build_dataset(str(tmp_path / "empty"))
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    with pytest.raises(ValueError, match="no images found"):
        build_dataset(f"folder:{tmp_path / 'empty'}")
    with pytest.raises(FileNotFoundError, match="missing"):
        build_dataset(f"folder:{tmp_path / 'missing'}")


# --------------------------------------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------------------------------------


def _write_idx(path: Path, array: np.ndarray) -> None:
    data = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def _to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels * 255).round().to(torch.uint8)


def test_idx_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, (5, 4, 4), dtype=np.uint8)
    test_images = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", train_images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(5, dtype=np.uint8))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", test_images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([9, 8, 7], np.uint8))
    for spec in (f"idx:{tmp_path}", str(tmp_path)):
        train = build_dataset(spec, image_size=4)
        assert len(train) == 5
        for index in range(5):
            item = train[index]
            assert item["pixel_values"].shape == (1, 4, 4) and int(item["labels"]) == index
            assert torch.equal(_to_uint8(item["pixel_values"][0]), torch.from_numpy(train_images[index]))
    test = build_dataset(str(tmp_path), split="test", image_size=4, channels=3)
    assert [int(test[i]["labels"]) for i in range(3)] == [9, 8, 7] and test[0]["pixel_values"].shape == (3, 4, 4)
    assert torch.equal(_to_uint8(test[2]["pixel_values"][1]), torch.from_numpy(test_images[2]))
    with pytest.raises(ValueError, match="validation"):
        build_dataset(str(tmp_path), split="validation")

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 20)
    with pytest.raises(ValueError, match="header"):
        build_dataset(f"idx:{tmp_path / 'broken'}")
    with pytest.raises(FileNotFoundError, match="IDX"):
        build_dataset(f"idx:{tmp_path / 'nothing'}")


def test_missing_shortcut_names_the_path_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAE_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="LEAE_DATA_DIR"):
        build_dataset("mnist")
    with pytest.raises(FileNotFoundError, match="cifar10-jpg.zip"):
        build_dataset("cifar10")


@pytest.mark.skipif(not (data_dir() / "mnist").is_dir(), reason=f"real MNIST not found at {data_dir() / 'mnist'}")
def test_real_mnist():
    test = build_dataset("mnist", split="test", image_size=28)
    assert len(test) == 10_000 and set(test.labels.tolist()) == set(range(10))
    item = test[0]
    assert item["pixel_values"].shape == (1, 28, 28) and item["pixel_values"].max() == 1.0
    assert len(build_dataset("mnist", split="train")) == 10_000


@pytest.mark.skipif(
    not (data_dir() / "cifar10-jpg.zip").is_file(), reason=f"CIFAR-10 zip not found at {data_dir() / 'cifar10-jpg.zip'}"
)
def test_real_cifar10_zip():
    train, test = build_dataset("cifar10"), build_dataset("cifar10", split="test")
    assert len(train) == 50_000 and len(test) == 10_000
    assert len(train.classes) == 10 and train.classes == test.classes and "airplane" in train.classes
    assert np.bincount(train.labels).tolist() == [5_000] * 10
    item = test[123]
    assert item["pixel_values"].shape == (3, 32, 32) and 0 <= int(item["labels"]) < 10 and train.num_skipped == 0


def test_utkface_gender_labels_from_file_names(tmp_path):
    for split, names in (("train", ["25_0_1_2017.jpg", "3_1_0_2016.jpg", "odd.jpg"]), ("test", ["40_1_2_x.jpg"])):
        (tmp_path / split / "face").mkdir(parents=True)
        for index, name in enumerate(names):
            _rgb(index).save(tmp_path / split / "face" / name)
    by_folder = build_dataset(str(tmp_path), image_size=8)
    assert by_folder.labels == [0, 0, 0] and by_folder.classes == ["face"]  # one class folder
    gender = build_dataset(str(tmp_path), image_size=8, labels="utkface-gender")
    assert gender.labels == [0, 1, -1] and gender.classes == ["male", "female"]  # sorted names: 25_0, 3_1, odd
    assert "gender" in gender.label_description and "class folder" in by_folder.label_description
    assert build_dataset(str(tmp_path), split="test", labels="utkface-gender").labels == [1]
    with pytest.raises(ValueError, match="utkface-gender"):
        build_dataset(str(tmp_path), labels="age")
    with pytest.raises(TypeError, match="only `labels`"):
        build_dataset(str(tmp_path), max_shapes=3)


def test_image_folder_crop_keeps_a_box_of_each_image(tmp_path, monkeypatch):
    """`crop` keeps (left, top, right, bottom) fractions of each image before the resize; the `celeba-half-face`
    shortcut is `celeba-half`'s zip with its face box as the default crop."""
    pixels = np.zeros((109, 89, 3), np.uint8)
    pixels[:, 45:] = (0, 0, 255)  # left half black, right half blue
    (tmp_path / "test" / "face").mkdir(parents=True)
    Image.fromarray(pixels).save(tmp_path / "test" / "face" / "a.png")
    right = build_dataset(str(tmp_path), split="test", image_size=8, crop=(0.6, 0.1, 1.0, 0.9))[0]["pixel_values"]
    assert torch.allclose(right, torch.tensor([0.0, 0.0, 1.0])[:, None, None].expand(3, 8, 8), atol=1e-6)
    whole = build_dataset(str(tmp_path), split="test", image_size=8)[0]["pixel_values"]
    assert whole[2, :, 0].max() < 0.1 and whole[2, :, -1].min() > 0.9  # no crop: both halves
    for box in [(0.5, 0.1, 0.4, 0.9), (0.0, 0.0, 1.2, 1.0), (0.1, 0.2, 0.9)]:
        with pytest.raises(ValueError, match=re.escape(repr(box))):
            build_dataset(str(tmp_path), split="test", crop=box)

    with zipfile.ZipFile(tmp_path / "celeba-9k-half.zip", "w") as archive:
        archive.write(tmp_path / "test" / "face" / "a.png", "test/face/a.png")
    monkeypatch.setenv("LEAE_DATA_DIR", str(tmp_path))
    face = build_dataset("celeba-half-face", split="test", image_size=89)
    left, top, right_edge, bottom = face.crop
    assert face.crop == SHORTCUTS["celeba-half-face"].crop and SHORTCUTS["celeba-half"].crop is None
    assert round((right_edge - left) * 89) == round((bottom - top) * 109) == 56  # a square of the 89x109 image
    loose = build_dataset("celeba-half", split="test", image_size=89)[0]["pixel_values"]
    assert not torch.equal(face[0]["pixel_values"], loose)
    assert torch.equal(
        build_dataset("celeba-half-face", split="test", image_size=89, crop=None)[0]["pixel_values"],
        face[0]["pixel_values"],
    )  # None: the shortcut's own box


@pytest.mark.parametrize(
    ("spec", "sizes", "native"),
    [
        ("celeba-half", (8_468, 500), (89, 109)),
        ("celeba-half-face", (8_468, 500), (89, 109)),
        ("utkface", (22_317, 1_000), (128, 128)),
    ],
)
def test_real_face_zips(spec, sizes, native):
    path = data_dir() / SHORTCUTS[spec].location
    if not path.is_file():
        pytest.skip(f"{path} not found (the face sets live beside the checkout; set LEAE_DATA_DIR)")
    train, test = build_dataset(spec, image_size=64), build_dataset(spec, split="test", image_size=64)
    assert (len(train), len(test)) == sizes
    with zipfile.ZipFile(path) as archive:
        assert Image.open(archive.open(test.files[0])).size == native
    item = test[0]
    assert item["pixel_values"].shape == (3, 64, 64) and test.num_skipped == 0
    if spec == "utkface":  # gender from the file names, both present in quantity
        counts = np.bincount(np.asarray(test.labels) + 1, minlength=3)
        assert counts[0] == 0 and min(counts[1:]) > 300
    else:
        assert set(test.labels) == {0} and test.classes == ["face"]


# --------------------------------------------------------------------------------------------------------------------
# Hugging Face datasets (local Parquet / Arrow / save_to_disk; the Hub id branch through a stand-in load_dataset)
# --------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def hf_images():
    images = [_rgb(i) for i in range(5)] + [Image.new("L", (10, 12), 200)]
    table = {"caption": [f"image {i}" for i in range(6)], "img": images, "label": [0, 1, 2, 1, 0, 2]}
    features = datasets.Features(
        {
            "caption": datasets.Value("string"),
            "img": datasets.Image(),
            "label": datasets.ClassLabel(names=["a", "b", "c"]),
        }
    )
    return images, datasets.Dataset.from_dict(table, features=features)


def _check_items(dataset, images, labels, count):
    for index in range(count):
        item = dataset[index]
        torch.testing.assert_close(item["pixel_values"], to_pixel_values(images[index], 8, channels=3))
        assert int(item["labels"]) == labels[index]


def test_parquet_arrow_and_disk_sources(tmp_path, hf_images):
    images, hf_dataset = hf_images
    labels = hf_dataset["label"]
    hf_dataset.to_parquet(str(tmp_path / "images.parquet"))
    hf_dataset.save_to_disk(str(tmp_path / "disk"))
    cache = {"cache_dir": str(tmp_path / "cache")}
    parquet = build_dataset(f"parquet:{tmp_path / 'images.parquet'}", image_size=8, hf_load_kwargs=cache)
    assert (parquet.rows.image_column, parquet.rows.label_column) == ("img", "label") and len(parquet) == 6
    _check_items(parquet, images, labels, 6)
    disk = build_dataset(f"disk:{tmp_path / 'disk'}", split="test", image_size=8)  # no splits: serves every split
    _check_items(disk, images, labels, 6)
    # recognised without a prefix
    _check_items(build_dataset(str(tmp_path / "images.parquet"), image_size=8, hf_load_kwargs=cache), images, labels, 2)
    _check_items(build_dataset(str(tmp_path / "disk"), image_size=8), images, labels, 2)
    arrow_file = next((tmp_path / "disk").glob("*.arrow"))
    _check_items(build_dataset(f"arrow:{arrow_file}", image_size=8, hf_load_kwargs=cache), images, labels, 6)

    stream = build_dataset(f"parquet:{tmp_path / 'images.parquet'}", image_size=8, streaming=True, hf_load_kwargs=cache)
    assert isinstance(stream, IterableDataset)
    streamed = list(stream)
    assert len(streamed) == 6
    for index in range(3):
        assert torch.equal(streamed[index]["pixel_values"], parquet[index]["pixel_values"])
        assert streamed[index]["labels"] == parquet[index]["labels"]


def test_hf_sources_take_a_crop_box_like_folders(tmp_path, hf_images):
    images, hf_dataset = hf_images
    hf_dataset.to_parquet(str(tmp_path / "images.parquet"))
    spec, cache, box = (
        f"parquet:{tmp_path / 'images.parquet'}",
        {"cache_dir": str(tmp_path / "cache")},
        (0.25, 0, 1, 0.5),
    )
    cropped = build_dataset(spec, image_size=8, hf_load_kwargs=cache, crop=box)
    streamed = list(build_dataset(spec, image_size=8, streaming=True, hf_load_kwargs=cache, crop=box))
    for index in range(3):
        expected = to_pixel_values(images[index].crop((3, 0, 12, 5)), 8, channels=3)  # 12×10 px: x 3–12, y 0–5
        torch.testing.assert_close(cropped[index]["pixel_values"], expected)
        torch.testing.assert_close(streamed[index]["pixel_values"], expected)
    with pytest.raises(ValueError, match=re.escape("got (0, 0, 0, 1)")):
        build_dataset(spec, image_size=8, hf_load_kwargs=cache, crop=(0, 0, 0, 1))


def test_hf_splits_from_file_names_and_dataset_dict(tmp_path, hf_images):
    images, hf_dataset = hf_images
    (tmp_path / "parquet").mkdir()
    hf_dataset.select(range(4)).to_parquet(str(tmp_path / "parquet" / "train.parquet"))
    hf_dataset.select(range(4, 6)).to_parquet(str(tmp_path / "parquet" / "test.parquet"))
    cache = {"cache_dir": str(tmp_path / "cache")}
    assert len(build_dataset(f"parquet:{tmp_path / 'parquet'}", image_size=8, hf_load_kwargs=cache)) == 4
    test = build_dataset(f"parquet:{tmp_path / 'parquet'}", split="test", image_size=8, hf_load_kwargs=cache)
    _check_items(test, images[4:], [0, 2], 2)

    datasets.DatasetDict({"train": hf_dataset, "validation": hf_dataset.select([5])}).save_to_disk(str(tmp_path / "d"))
    _check_items(build_dataset(f"disk:{tmp_path / 'd'}", "validation", image_size=8), images[5:], [2], 1)
    with pytest.raises(ValueError, match="'test'"):
        build_dataset(f"disk:{tmp_path / 'd'}", "test")


def test_hub_id_uses_load_dataset_and_shared_conversion(monkeypatch, hf_images):
    images, hf_dataset = hf_images
    calls = []

    def fake_load_dataset(path, split, streaming, **kwargs):
        calls.append((path, split, streaming, kwargs))
        return hf_dataset.to_iterable_dataset() if streaming else hf_dataset

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    hub = build_dataset("flwrlabs/celeba", split="valid", image_size=8)
    _check_items(hub, images, hf_dataset["label"], 2)
    stream = build_dataset("hf:uoft-cs/cifar10", image_size=8, streaming=True, hf_load_kwargs={"name": "x"})
    streamed = next(iter(stream))
    assert torch.equal(streamed["pixel_values"], hub[0]["pixel_values"])
    assert calls == [("flwrlabs/celeba", "valid", False, {}), ("uoft-cs/cifar10", "train", True, {"name": "x"})]


def test_hf_column_detection_overrides_and_corrupt_images(tmp_path):
    table = {
        "photo": [_rgb(0), _rgb(1)],
        "thumbnail": [{"bytes": b"garbage", "path": None}, _rgb(3)],
        "labels": [4, 5],
    }
    features = datasets.Features(
        {"photo": datasets.Image(), "thumbnail": datasets.Image(), "labels": datasets.Value("int64")}
    )
    hf_dataset = datasets.Dataset.from_dict(table, features=features)
    hf_dataset.save_to_disk(str(tmp_path / "disk"))
    spec = f"disk:{tmp_path / 'disk'}"
    detected = build_dataset(spec, image_size=8)
    assert (detected.rows.image_column, detected.rows.label_column) == ("photo", "labels") and int(
        detected[1]["labels"]
    ) == 5
    chosen = build_dataset(spec, image_size=8, hf_image_column="thumbnail")
    with pytest.warns(RuntimeWarning, match="skipped 1 unreadable"):
        assert [int(item["labels"]) for item in chosen.__getitems__([0, 1])] == [5]  # the corrupt thumbnail left out
    with pytest.warns(RuntimeWarning, match="skipped 1 unreadable"):
        streamed = list(build_dataset(spec, image_size=8, hf_image_column="thumbnail", streaming=True))
    assert [int(item["labels"]) for item in streamed] == [5]
    with pytest.raises(ValueError, match="'nope' not in"):
        build_dataset(spec, hf_image_column="nope")
    hf_dataset.select_columns(["labels"]).save_to_disk(str(tmp_path / "no_images"))
    with pytest.raises(ValueError, match="no image column"):
        build_dataset(f"disk:{tmp_path / 'no_images'}")
