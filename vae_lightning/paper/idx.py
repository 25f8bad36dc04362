"""Checks of MNIST's IDX files that torchvision does not make: size, format, labels, counts."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from pathlib import Path

from vae_lightning.errors import DataError

IMAGES = 0x0803  # unsigned bytes, 3 dimensions
LABELS = 0x0801  # unsigned bytes, 1 dimension
CLASSES = 10
SIDE = (28, 28)  # rows, columns of every MNIST and Fashion-MNIST image


def replace_advice(files: str = "it") -> str:
    """How to replace bad data files: what every DataError below ends with."""
    return f"delete {files} and run again with data.download=true, or copy the original file there"


REPLACE_IT = replace_advice()


def read_header(path: Path, magic: int) -> tuple[int, tuple[int, ...]]:
    """(the header's size, i.e. the offset of the data; the dimensions) of an IDX file; DataError,
    naming the file and the fix, if it cannot be read or cannot be an IDX file of `magic`."""
    try:
        return parse_header(path, magic)
    except OSError as error:
        raise DataError(f"{path} cannot be read ({error.strerror or error}): make it a readable file; "
                        f"{REPLACE_IT}") from None


def parse_header(path: Path, magic: int) -> tuple[int, tuple[int, ...]]:
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path} is empty (0 bytes): {REPLACE_IT}")
    dimensions = magic & 0xFF
    header = 4 + 4 * dimensions
    if size < header:
        raise DataError(f"{path} is truncated ({size} bytes, shorter than its header): {REPLACE_IT}")
    with open(path, "rb") as file:
        found = struct.unpack(">I", file.read(4))[0]
        if found != magic:
            kind = "image" if magic == IMAGES else "label"
            raise DataError(f"{path} is not an IDX {kind} file (magic 0x{found:08x}, expected 0x{magic:08x}): "
                            f"{REPLACE_IT}")
        shape = struct.unpack(f">{dimensions}I", file.read(4 * dimensions))
    expected = header + math.prod(shape)
    if size != expected:
        raise DataError(f"{path} is truncated or damaged: its header promises {expected} bytes, it has {size}: "
                        f"{REPLACE_IT}")
    return header, shape


def check_pair(images: Path, labels: Path, check_count: Callable[[int], None] = lambda count: None) -> int:
    """The number of images; DataError, naming the file and the fix, unless the two files are a consistent
    MNIST split. `check_count(count)` may refuse the count the headers give before any payload is read:
    a header can promise far more than any split holds (a sparse file of 500 MB reads as zeros)."""
    _, image_shape = read_header(images, IMAGES)
    if tuple(image_shape[1:]) != SIDE:
        raise DataError(f"{images} holds images of {image_shape[1]}x{image_shape[2]} pixels; the model and the image "
                        f"grids take MNIST's {SIDE[0]}x{SIDE[1]}: {REPLACE_IT}")
    offset, (label_count,) = read_header(labels, LABELS)
    if image_shape[0] != label_count:
        raise DataError(
            f"{images} holds {image_shape[0]} images but {labels} holds {label_count} labels: "
            f"they must come from the same split; {replace_advice('both')}"
        )
    check_count(label_count)
    largest = max(labels.read_bytes()[offset:], default=0)
    if largest >= CLASSES:
        raise DataError(f"{labels} holds a label outside 0-{CLASSES - 1} (found {largest}): {REPLACE_IT}")
    return label_count
