"""Data sources named by a spec string, each giving images at a configured ``image_size``.

``build_dataset(spec, split, image_size, ...)`` is the one entry point. Image items are
``{"pixel_values": float32 [C, S, S] in [0, 1], "labels": int64 scalar}`` (label -1 when unknown); the 2-D toy mixture
gives ``{"points": float32 [2], "labels": int64 scalar}``.

===============================================  ======================================================================
spec                                             source
===============================================  ======================================================================
``synthetic-shapes`` / ``synthetic-shapes:N``    procedural shapes on varied backgrounds, no files; the default
``mog-2d`` / ``mog-2d:N``                        2-D mixture of Gaussians (8 components on the unit circle, std 0.1)
``folder:<dir>`` / ``zip:<file.zip>`` / path     image folder or zip: ``<split>/<class>/*.jpg``, ``<class>/*.jpg``, flat
``idx:<dir>`` / directory with IDX files         MNIST-style ``*-images-idx3-ubyte(.gz)`` + ``*-labels-idx1-ubyte(.gz)``
``mnist`` / ``cifar10``                          ``$LEAE_DATA_DIR/mnist`` / ``$LEAE_DATA_DIR/cifar10-jpg.zip``
``mnist-full``                                   ``$LEAE_DATA_DIR/mnist-full`` (all 60,000 / 10,000 digits)
``celeba-half`` / ``utkface``                    ``$LEAE_DATA_DIR/celeba-9k-half.zip`` / ``utkface-128.zip`` (faces,
                                                 non-commercial research only)
``celeba-half-face``                             ``celeba-half`` cropped to the face, framed like UTKFace (option
                                                 ``crop``)
``fashion-mnist``                                ``/usr/share/datasets/fashion-mnist`` (``apt-get install
                                                 dataset-fashion-mnist``)
``hf:<org/name>`` / ``<org/name>``               a Hugging Face Hub dataset, ``datasets.load_dataset(id, split=...)``
``parquet:<path|glob|dir>`` / ``arrow:<...>``    local Parquet / Arrow files, through the same code as Hub datasets
``disk:<dir>``                                   a directory written by ``Dataset.save_to_disk``
===============================================  ======================================================================

``LEAE_DATA_DIR`` defaults to ``../shared/data`` relative to the current working directory (beside the checkout, for a
command run from the checkout).

Splits. Image folders and zips take the split from a top-level folder (``train``, ``test``, ``validation``/``val``/
``valid``); a tree without split folders serves every split. Below the split, ``<class>/<image>`` gives labels from the
sorted class-folder names (the union over all splits, so ids agree between splits); images lying directly in the split
folder (or in the root) have label -1. A single wrapper folder (``data/train/...``, typical of zips) is looked through.
The face sets (``celeba-half``, ``utkface``) hold one class folder, ``face``: a single class is no label (evaluation
reports "no labels"); the ``utkface`` shortcut labels each image with the gender in its file name instead (option
``labels``). An image folder, zip or Hugging Face source keeps a box of each image with the option ``crop`` (left,
top, right, bottom in fractions of the width and height; ``check_crop``), before the resize: a training config's
``image_crop``, ``leae evaluate --image_crop``; ``celeba-half-face`` is ``celeba-half`` with the box of the face
(a square of 0.63 of the width, centred 0.546 down: the aligned CelebA face framed as UTKFace frames its chips).
IDX directories map ``train`` to files named ``train*`` and ``test`` to ``t10k*``/``test*``. A Parquet/Arrow
*directory* takes splits from its file names like the Hub does; a single file or glob, like a saved ``Dataset`` (not a
``DatasetDict``), serves every split.

Images are converted by ``to_pixel_values``: any PIL mode or numpy array, resized (bicubic, antialiased) so the shorter
side is ``image_size`` and centre-cropped to a square. Images with transparency are composited on white.

Unreadable images never stop a run and are never replaced by another image: a DataLoader fetches a batch through
``__getitems__``, which leaves unreadable images out (the batch is that much smaller), counts them in ``num_skipped``
(per process) and warns, naming the file, when the count reaches a power of two. ``dataset[i]`` of an unreadable image
is an ``UnreadableImageError`` naming it; ``readable_items`` reads a list of indices the way a DataLoader does. Archive
members and files of a folder are read with a size cap (``MAX_MEMBER_BYTES``): a small zip that inflates to gigabytes,
or a file name that leads to a device, a pipe or a huge file, is an unreadable image, not a hang or an out-of-memory
crash. A zip or gzip file that is not one is a ``ValueError`` naming its path. An empty source is
a ``ValueError`` at construction.

The package along its seams: ``images`` (the conversion and what every image source shares), the readers
(``procedural``, ``folders``, ``idx``, ``hf``), ``sources`` (the registry: one ``@register_source`` class per form of
spec, and the shortcuts) and ``spec`` (``build_dataset``, ``make_dataloader``). Every name is importable from
``leae_hub.data``.
"""

from __future__ import annotations

from .folders import IMAGE_EXTENSIONS, LABELS_FROM_NAMES, ImageFolderSource
from .hf import HFSource, HFStreamingSource, load_hf_dataset
from .idx import MAX_IDX_BYTES, IdxSource
from .images import (
    MAX_MEMBER_BYTES,
    CropBox,
    UnreadableImageError,
    check_crop,
    first_readable,
    readable_items,
    to_pixel_values,
)
from .procedural import MixtureOfGaussians2D, SyntheticShapes
from .sources import (
    DATA_DIR_ENV,
    DATA_SOURCES,
    SHORTCUTS,
    SOURCES,
    Shortcut,
    Source,
    SourceRequest,
    data_dir,
    register_source,
)
from .spec import build_dataset, make_dataloader

__all__ = [
    "CropBox",
    "DATA_DIR_ENV",
    "DATA_SOURCES",
    "HFSource",
    "HFStreamingSource",
    "IMAGE_EXTENSIONS",
    "LABELS_FROM_NAMES",
    "MAX_IDX_BYTES",
    "MAX_MEMBER_BYTES",
    "SHORTCUTS",
    "SOURCES",
    "IdxSource",
    "ImageFolderSource",
    "MixtureOfGaussians2D",
    "Shortcut",
    "Source",
    "SourceRequest",
    "SyntheticShapes",
    "UnreadableImageError",
    "build_dataset",
    "check_crop",
    "data_dir",
    "first_readable",
    "load_hf_dataset",
    "make_dataloader",
    "readable_items",
    "register_source",
    "to_pixel_values",
]
