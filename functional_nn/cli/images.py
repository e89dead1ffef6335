"""Reading the images ``predict`` classifies: PNG or PGM (any still image Pillow reads).

Pillow is imported only here and only when an image is read. Images are brought to the
network's input: 8-bit grayscale of its square size. Colour or 16-bit images are converted
and other sizes resized (LANCZOS, aspect ratio not kept), each with a warning. Images are
never inverted silently: MNIST digits are white on black, so a mostly light image (mean above
127) gets a warning suggesting ``--invert``, which flips it (``255 - pixel``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np
import numpy.typing as npt

from .._atomic import open_regular
from .errors import CliError

__all__ = ["image_shape", "read_image"]

INSTALL_HINT = "pip install 'functional_nn[images]'"
MAX_PIXELS = 4096 * 4096
"""The largest image ``predict`` decodes (64 MB of 32-bit pixels): a digit needs far fewer, and
a file claiming more is refused from its header, before Pillow decodes it."""


def _pillow() -> ModuleType:
    """The ``PIL.Image`` module, or one clear error saying how to install it."""
    try:
        from PIL import Image
    except ImportError:
        raise CliError(f"reading images needs Pillow: {INSTALL_HINT} (or classify test "
                       "images with --index)") from None
    image_module: ModuleType = Image
    return image_module


def image_shape(inputs: int) -> tuple[int, int]:
    """The square image size a network of ``inputs`` inputs takes (28×28 for 784)."""
    side = math.isqrt(inputs)
    if side * side != inputs:
        raise CliError(f"the network takes {inputs} inputs, which is not a square image; "
                       "classify test images with --index instead")
    return side, side


def _gray(image: object, mode: str) -> npt.NDArray[np.uint8]:
    """An 8-bit grayscale array of a Pillow image of any mode."""
    if mode in ("I", "F") or mode.startswith("I;16"):
        # 16-bit and 32-bit images: scale the 16-bit range to 8 bits (Pillow would clip).
        values = np.asarray(image, dtype=np.float64) / (257.0 if mode != "F" else 1.0)
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    converted = image.convert("L") if mode != "L" else image  # type: ignore[attr-defined]
    return np.asarray(converted, dtype=np.uint8)


def read_image(path: str, shape: tuple[int, int], *, invert: bool,
               warn: Callable[[str], None]) -> npt.NDArray[np.uint8]:
    """The image at ``path`` as uint8 grayscale of ``shape`` (rows, columns)."""
    image_module = _pillow()
    try:
        with warnings.catch_warnings():
            # Pillow warns of (and refuses) images far above MAX_PIXELS on its own.
            warnings.simplefilter("error", image_module.DecompressionBombWarning)
            open_regular(path).close()  # a FIFO is refused here, not waited on by Pillow
            image = image_module.open(path)
    except (image_module.DecompressionBombError, image_module.DecompressionBombWarning):
        raise CliError(f"{path}: the image is too large to be a digit (more than "
                       f"{MAX_PIXELS:,} pixels)") from None
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory, not an image") from None
    except image_module.UnidentifiedImageError:
        raise CliError(f"{path}: not an image (expected a PNG or PGM file)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise CliError(f"{path}: unreadable image: {error}") from None
    try:
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS:  # known from the header: nothing decoded yet
                raise CliError(f"{path}: a {width}×{height} image is too large to be a digit "
                               f"(at most {MAX_PIXELS:,} pixels)")
            image.load()  # decode now, so a truncated file fails here
            mode = str(image.mode)
            if mode not in ("L", "1"):
                warn(f"{path}: {mode} image converted to 8-bit grayscale")
            pixels = _gray(image, mode)
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        # Pillow reports damaged files with any of these.
        raise CliError(f"{path}: unreadable image: {error}") from None
    if (height, width) != shape:
        warn(f"{path}: {width}×{height} image resized to {shape[1]}×{shape[0]}")
        resized = image_module.fromarray(pixels).resize((shape[1], shape[0]),
                                                        image_module.Resampling.LANCZOS)
        pixels = np.asarray(resized, dtype=np.uint8)
    if invert:
        return (255 - pixels).astype(np.uint8)
    if pixels.mean() > 127:
        warn(f"{path}: mostly light (mean {pixels.mean():.0f} of 255) but MNIST digits are "
             "white on black; if this is a dark digit on a light background, pass --invert")
    return pixels
