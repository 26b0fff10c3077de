"""Image folders and zip archives: ``<split>/<class>/<image>``, ``<class>/<image>`` or flat."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image

from .images import MAX_MEMBER_BYTES, CropBox, _decode, _ImageSource, _read_regular_file

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
_SPLIT_ALIASES = {
    "train": ("train", "training"),
    "validation": ("validation", "val", "valid", "dev"),
    "test": ("test", "testing", "eval"),
}
_KNOWN_SPLITS = frozenset(name for names in _SPLIT_ALIASES.values() for name in names)

# Labels an image folder can take instead of its class folders: name -> (what the label means, file name -> label).
_UTKFACE_NAME = re.compile(r"^(\d+)_([01])_(\d+)_")
LABELS_FROM_NAMES: dict[str, str] = {
    "folder": "the class folder (<split>/<class>/<image>); none for images directly in the split folder",
    "utkface-gender": "gender from UTKFace file names age_gender_race_date.jpg (0 male, 1 female; -1 if absent)",
}


def _utkface_gender(name: str) -> int:
    match = _UTKFACE_NAME.match(name.rsplit("/", 1)[-1])
    return int(match.group(2)) if match else -1


class ImageFolderSource(_ImageSource):
    """Images from a folder or a ``.zip`` archive (see the module docstring for the layouts).

    The member list is indexed once at construction; images are read and decoded in ``__getitem__``. A zip is opened
    lazily in each process (DataLoader workers included) and never pickled. ``labels`` picks what an item's label is
    (``LABELS_FROM_NAMES``): its class folder (the default) or, for UTKFace, the gender in its file name;
    ``label_description`` says which, for reports. ``crop`` (`check_crop`) keeps a box of each image, in fractions of
    its width and height, before the conversion resizes it: e.g. the face of an aligned photo framed more loosely
    than the faces a model was trained on.
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        image_size: int = 32,
        channels: int | None = None,
        labels: str = "folder",
        crop: CropBox | None = None,
    ):
        if labels not in LABELS_FROM_NAMES:
            raise ValueError(f"labels must be one of {', '.join(LABELS_FROM_NAMES)}, got {labels!r}")
        self.path = Path(path)
        self.is_zip = self.path.is_file()
        if not self.path.exists():
            raise FileNotFoundError(f"image folder or zip not found: {self.path}")
        if self.is_zip:
            with _open_zip(self.path) as archive:
                names = [info.filename for info in archive.infolist() if not info.is_dir()]
        else:
            names = [
                (Path(folder) / file).relative_to(self.path).as_posix()
                for folder, _, files in os.walk(self.path)
                for file in files
            ]
        self.files, self.labels, self.classes = _folder_layout(names, split, str(self.path))
        if labels == "utkface-gender":
            self.labels, self.classes = [_utkface_gender(name) for name in self.files], ["male", "female"]
        self.label_description = LABELS_FROM_NAMES[labels]
        self._archive: zipfile.ZipFile | None = None
        self._archive_pid = -1
        super().__init__(str(self.path), split, image_size, 3 if channels is None else channels, len(self.files), crop)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_archive": None, "_archive_pid": -1}

    def _read(self, index: int) -> tuple[Image.Image, int]:
        name = self.files[index]
        if not self.is_zip:
            return _decode(_read_regular_file(self.path / name)), self.labels[index]
        if self._archive is None or self._archive_pid != os.getpid():  # first read in this process
            self._archive, self._archive_pid = _open_zip(self.path), os.getpid()
        chunks, size = [], 0
        with self._archive.open(name) as member:  # inflated a MiB at a time, whatever the header claims
            while chunk := member.read(2**20):
                size += len(chunk)
                if size > MAX_MEMBER_BYTES:
                    raise ValueError(f"it inflates to more than MAX_MEMBER_BYTES ({MAX_MEMBER_BYTES} bytes)")
                chunks.append(chunk)
        return _decode(b"".join(chunks)), self.labels[index]

    def _name(self, index: int) -> str:
        return self.files[index]


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path} is not a readable zip archive ({error}); check the file or pass a folder") from error


def _folder_layout(names: list[str], split: str, spec: str) -> tuple[list[str], list[int], list[str]]:
    """Select the split's image files from relative posix names; return (files, labels, class names)."""
    paths = sorted(
        tuple(name.split("/"))
        for name in names
        if name.lower().endswith(IMAGE_EXTENSIONS)
        and not any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))
    )
    if not paths:
        raise ValueError(f"{spec}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    prefix: tuple[str, ...] = ()  # look through single wrapper folders, e.g. a zip of "data/train/..."
    while len({p[len(prefix)] for p in paths}) == 1 and all(len(p) > len(prefix) + 1 for p in paths):
        if paths[0][len(prefix)].lower() in _KNOWN_SPLITS:
            break
        prefix = paths[0][: len(prefix) + 1]
    relative = [p[len(prefix) :] for p in paths]
    split_folders = sorted({p[0] for p in relative if len(p) > 1 and p[0].lower() in _KNOWN_SPLITS})
    if split_folders:
        wanted = next((set(names) for names in _SPLIT_ALIASES.values() if split.lower() in names), {split.lower()})
        if not any(folder.lower() in wanted for folder in split_folders):
            raise ValueError(f"{spec}: no images found for split {split!r} (split folders: {', '.join(split_folders)})")
        relative = [p for p in relative if len(p) > 1 and p[0] in split_folders]
        classes = sorted({p[1] for p in relative if len(p) > 2})
        chosen = [p for p in relative if p[0].lower() in wanted]
        inside = [p[1:] for p in chosen]  # path below the split folder
    else:
        classes = sorted({p[0] for p in relative if len(p) > 1})
        chosen = inside = relative
    if any(len(p) == 1 for p in inside):  # images lie directly in the split folder (or root): no labels
        classes, labels = [], [-1] * len(inside)
    else:
        ids = {name: i for i, name in enumerate(classes)}
        labels = [ids[p[0]] for p in inside]
    files = ["/".join(prefix + p) for p in chosen]
    return files, labels, classes
