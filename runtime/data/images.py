"""Training data from a folder of images: one subfolder per class, PNG or JPEG files in it.

    shapes/
      circle/  a.png  b.png ...
      square/  c.jpg  d.jpeg ...

The class names are the subfolders' names; they must be the spec output's classes (in any
order). Every image becomes float32 (C, H, W) of the spec's input, scaled to 0..1:

- channels: 1 reads grey (Pillow's ITU-R 601-2 luma, L = 0.299 R + 0.587 G + 0.114 B), 3 reads
  RGB (grey images repeated in all three). Transparency (RGBA, LA, a palette's transparent
  colour) is laid over white, as a viewer shows it on a page; palette images take their
  palette's colours; 16-bit grey PNGs keep their 16 bits (divided by 65535); CMYK JPEGs are
  converted to RGB.
- size: an image of another size than the spec's input is refused, naming the file and both
  sizes, unless the train section says how to resize it: `data "shapes" resize=stretch` (to the
  input's height and width, whatever the aspect), `resize=fit` (scaled to fit inside, keeping the
  aspect, centred, the rest black: 0), `resize=crop` (scaled to cover it, keeping the aspect,
  its middle kept). Resampling is Pillow's LANCZOS, which also smooths when shrinking.

Files are read in sorted order (classes by name, files by name within a class), so the samples
and the validation split a seed draws are the same on every machine. Names starting with '.'
(.DS_Store, editor files) are skipped. Anything else that is not a PNG or JPEG file directly in a
class folder is refused before any image is decoded: a file at the top level, a folder inside a
class folder, a file of another kind, a FIFO or device, a broken link, an empty class folder.
An image that Pillow cannot read (not an image, truncated) or that is larger than Pillow's
decompression-bomb limit (Image.MAX_IMAGE_PIXELS, checked from its header before decoding) is
named in the error, and training does not start.
"""
from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np

from specc.errors import SpecError

from . import Dataset, SpecSide, install_hint, labels_by_name, split_validation

SUFFIXES = (".png", ".jpg", ".jpeg")
FORMATS = ("PNG", "JPEG")
LAYOUT_HINT = "put each class's PNG or JPEG files in a subfolder named after the class: FOLDER/CLASS/image.png"
SIXTEEN_BITS = 65535.0


def load_folder(path: str, spec: SpecSide, seed: int, validation: float, resize: str = "refuse") -> Dataset:
    """The images of `path`'s class folders, fitted to the spec's input (C, H, W) per
    `resize`; labels are indices into the spec's classes. A `validation` fraction, chosen by
    `seed` and stratified by class, is held out; a folder has no test split."""
    channels, height, width = image_shape(spec, path)
    classes, files = list_images(path)
    labels = labels_by_name(np.repeat(np.arange(len(classes)), [len(f) for f in files]), classes, spec,
                            f"the image folder {path}")
    paths = [file for class_files in files for file in class_files]
    from specc.memory import check_fits

    check_fits(len(paths) * channels * height * width * 4, f"the {len(paths)} images of {path} as float32",
               hint="train on fewer images, or at a smaller input size")
    x = np.empty((len(paths), channels, height, width), dtype=np.float32)
    for i, file in enumerate(paths):
        x[i] = read_image(file, channels, height, width, resize)
    train, held = split_validation(x, labels, validation, seed, strata=labels)
    return Dataset(Path(path).name, train, held, None, spec.classes)


def image_shape(spec: SpecSide, path: str) -> tuple[int, int, int]:
    """(C, H, W) of the spec's input; SpecError unless it is an image of 1 or 3 channels."""
    shape = spec.input_shape
    if len(shape) != 3 or spec.is_sequence:
        raise SpecError(f"{path} is a folder of images, but the spec's input {spec.input_name} is {spec.input_text()}",
                        expected=f"input {spec.input_name}: CxHxW, like 1x28x28 (grey) or 3x32x32 (RGB)",
                        received=spec.input_text())
    if shape[0] not in (1, 3):
        raise SpecError(f"images are read grey (1 channel) or RGB (3 channels), but the spec's input "
                        f"{spec.input_name} has {shape[0]} channels",
                        expected=f"input {spec.input_name}: 1x{shape[1]}x{shape[2]} or 3x{shape[1]}x{shape[2]}",
                        received=spec.input_text())
    return shape


# ---- the folder's layout ----

def list_images(path: str) -> tuple[tuple[str, ...], list[list[Path]]]:
    """(class names, each class's image files), both sorted; SpecError for anything in the
    folder that is not a class folder of PNG or JPEG files (see the module's docstring)."""
    root = Path(path)
    classes, files = [], []
    for entry in _entries(root):
        if not stat.S_ISDIR(_mode(entry)):
            raise SpecError(f"the image folder {path} holds the file {entry.name} at its top level",
                            expected="only class folders at the top level", received=str(entry), hint=LAYOUT_HINT)
        class_files = [_image_file(item) for item in _entries(entry)]
        if not class_files:
            raise SpecError(f"the class folder {entry} holds no images",
                            hint="add PNG or JPEG files to it, or remove it (its name is a class)")
        classes.append(entry.name)
        files.append(class_files)
    if not classes:
        raise SpecError(f"the image folder {path} holds no class folders", hint=LAYOUT_HINT)
    return tuple(classes), files


def _entries(folder: Path) -> list[Path]:
    """The entries of `folder` not starting with '.', sorted by name."""
    try:
        names = os.listdir(folder)
    except OSError as error:
        raise SpecError(f"cannot read the folder {folder}: {error.strerror or error}") from None
    return [folder / name for name in sorted(names) if not name.startswith(".")]


def _mode(entry: Path) -> int:
    """The st_mode of what `entry` leads to (links followed); SpecError for a broken link or a
    link loop."""
    try:
        return entry.stat().st_mode
    except OSError as error:
        raise SpecError(f"cannot read {entry}: {error.strerror or error}",
                        hint="a link that leads nowhere (or to itself) cannot be read: remove it") from None


def _image_file(entry: Path) -> Path:
    """`entry` if it is a regular file named .png, .jpg or .jpeg; SpecError otherwise."""
    from specc.atomic import kind_of

    mode = _mode(entry)
    if stat.S_ISDIR(mode):
        raise SpecError(f"the class folder {entry.parent} holds a folder, {entry.name}",
                        expected="PNG or JPEG files directly in each class folder", hint=LAYOUT_HINT)
    if not stat.S_ISREG(mode):
        raise SpecError(f"{entry} is {kind_of(mode)}, not an image file", hint="remove it from the image folder")
    if entry.suffix.lower() not in SUFFIXES:
        raise SpecError(f"{entry} is not a PNG or JPEG file", expected="files named .png, .jpg or .jpeg",
                        received=entry.name, hint="convert it, or move it out of the image folder")
    return entry


# ---- one image ----

def read_image(file: Path, channels: int, height: int, width: int, resize: str) -> np.ndarray:
    """`file` as float32 (channels, height, width) in 0..1, resized per `resize` (the train
    section's `data ... resize=`: refuse, stretch, fit or crop)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise SpecError("reading a folder of images needs the package Pillow, which is not installed",
                        hint=install_hint("images", "pillow")) from None
    try:
        with warnings.catch_warnings():
            # an image over the limit is refused below; Pillow's warning about it would only repeat that
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                _check_header(file, image, Image.MAX_IMAGE_PIXELS, (channels, height, width), resize)
                image.load()
                pixels = _in_mode(image, channels)
    except Image.DecompressionBombError as error:  # over twice the limit: Pillow refuses it as it opens
        raise SpecError(f"{file}: {error}", hint="shrink the image, or remove it") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        what = "not an image Pillow can read" if isinstance(error, UnidentifiedImageError) else str(error)
        raise SpecError(f"cannot read the image {file}: {what}",
                        hint="remove or replace the file; training reads every image before it starts") from None
    pixels = _sized(pixels, height, width, resize)
    values = np.asarray(pixels, dtype=np.float32)
    if pixels.mode != "F":  # 8 bits a channel; "F" holds 16-bit grey already divided
        values /= 255.0
    values = values.transpose(2, 0, 1) if values.ndim == 3 else np.repeat(values[None], channels, axis=0)
    return np.clip(values, 0.0, 1.0)  # LANCZOS rings a little past the range


def _check_header(file: Path, image, limit: int | None, shape: tuple[int, int, int], resize: str) -> None:
    """Refuse, from the header before any pixel is decoded: another format than PNG or JPEG,
    more pixels than Pillow's decompression-bomb limit, another size than the spec's (C, H, W)
    unless `resize` says how to make it fit."""
    width, height = image.size
    if image.format not in FORMATS:
        raise SpecError(f"{file} is a {image.format} image, not PNG or JPEG",
                        hint="convert it to PNG, or move it out of the image folder")
    if limit and width * height > limit:
        raise SpecError(f"{file} claims {height}x{width} pixels (height x width), more than Pillow's limit of "
                        f"{limit:,} (a decompression bomb?)", hint="shrink the image, or remove it")
    if (height, width) != shape[1:] and resize == "refuse":
        raise SpecError(f"{file} is {height}x{width} (height x width), the spec's input is "
                        f"{'x'.join(map(str, shape))}",
                        expected=f"images of {shape[1]}x{shape[2]}", received=f"{height}x{width}",
                        hint='resize the images, or let training do it: data "FOLDER" resize=stretch (or fit, or crop)')


def _in_mode(image, channels: int):
    """A decoded image as a Pillow image in mode 'L' (grey) or 'RGB' for `channels` 1 or 3, or
    'F' for 16-bit grey (values 0..1, kept to 16 bits); transparency is laid over white."""
    from PIL import Image

    if image.mode.startswith("I"):  # 16-bit grey PNG: "I;16" or "I"
        return Image.fromarray(np.asarray(image, dtype=np.float32) / SIXTEEN_BITS, mode="F")
    if image.mode == "P" or "A" in image.mode or "a" in image.mode:
        rgba = image.convert("RGBA")  # a palette's transparent colour becomes alpha too
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert("L" if channels == 1 else "RGB")


def _sized(image, height: int, width: int, resize: str):
    """`image` at (height, width): stretched, fitted inside (black around), or cropped to cover."""
    from PIL import Image

    have_w, have_h = image.size
    if (have_w, have_h) == (width, height):
        return image
    if resize == "stretch":
        return image.resize((width, height), Image.Resampling.LANCZOS)
    scale = (min if resize == "fit" else max)(width / have_w, height / have_h)
    new_w, new_h = max(1, round(have_w * scale)), max(1, round(have_h * scale))
    scaled = image.resize((new_w, new_h), Image.Resampling.LANCZOS)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    if resize == "crop":
        return scaled.crop((left, top, left + width, top + height))
    canvas = Image.new(image.mode, (width, height), 0)
    canvas.paste(scaled, (-left, -top))
    return canvas
