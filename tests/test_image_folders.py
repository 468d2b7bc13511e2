"""Training from a folder of images (issue 11, Data): one subfolder per class of PNG or JPEG
files, read grey or RGB per the spec's input channels, scaled to 0..1, refused or resized to the
input's size, and every bad file named before training starts.

Oracles: pixel values written with Pillow and known by construction (x/255, 16-bit x/65535,
ITU-R 601-2 luma, white under transparency).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import specc
from specc.cli import main
from specc.runtime.data import load_data

SPEC = dict(input_name="image", input_shape=(1, 4, 4), output_name="label", classes=("light", "dark"))


def folder(root: Path, images: dict[str, dict[str, Image.Image]]) -> Path:
    """Write {class: {file name: image}} under root/shapes; returns the folder."""
    for name, files in images.items():
        (root / "shapes" / name).mkdir(parents=True, exist_ok=True)
        for file, image in files.items():
            image.save(root / "shapes" / name / file)
    return root / "shapes"


def grey(value: int, size=(4, 4)) -> Image.Image:
    return Image.new("L", size, value)


def two_classes(root: Path, count: int = 5, **extra) -> Path:
    """`count` dark (value 10) and light (200) 4x4 grey PNGs, plus `extra` files in 'dark'."""
    dark = {f"{i}.png": grey(10) for i in range(count)}
    return folder(root, {"dark": {**dark, **extra}, "light": {f"{i}.png": grey(200) for i in range(count)}})


def load(source, **spec):
    return load_data(str(source), **{**SPEC, "validation": 0.0, **spec})


def error(source, *words, **spec) -> str:
    """The rendered SpecError of loading `source`; it contains each of `words`."""
    with pytest.raises(specc.SpecError) as info:
        load(source, **spec)
    shown = info.value.render()
    for word in words:
        assert word in shown, f"{word!r} not in:\n{shown}"
    return shown


def test_classes_are_the_subfolders_in_the_specs_order_and_pixels_are_scaled_to_0_1(tmp_path):
    data = load(two_classes(tmp_path, count=3))
    assert data.classes == ("light", "dark") and data.test is None
    # sorted: dark's three files, then light's; labels index the spec's classes (light=0, dark=1)
    assert data.train.y.tolist() == [1, 1, 1, 0, 0, 0]
    assert data.train.x.dtype == np.float32 and data.train.x.shape == (6, 1, 4, 4)
    np.testing.assert_array_equal(data.train.x[:, 0, 0, 0], np.float32([10, 10, 10, 200, 200, 200]) / 255)


def test_validation_is_a_stratified_fraction_chosen_by_the_seed(tmp_path):
    source = two_classes(tmp_path, count=10)
    data = load(source, validation=0.2, seed=3)
    assert (len(data.train), len(data.validation)) == (16, 4)
    assert sorted(data.validation.y.tolist()) == [0, 0, 1, 1]
    assert np.array_equal(load(source, validation=0.2, seed=3).validation.x, data.validation.x)


def test_rgb_is_read_as_grey_by_luma_and_grey_as_rgb_by_repeating(tmp_path):
    source = folder(tmp_path, {"dark": {"a.png": Image.new("RGB", (4, 4), (255, 0, 0))},
                               "light": {"b.png": grey(51)}})
    as_grey = load(source).train.x
    assert as_grey[0, 0, 0, 0] == np.float32(76 / 255)  # L = 299/1000 R + ... rounded: 76
    as_rgb = load(source, input_shape=(3, 4, 4)).train.x
    np.testing.assert_array_equal(as_rgb[0, :, 1, 1], np.float32([255, 0, 0]) / 255)
    np.testing.assert_array_equal(as_rgb[1, :, 1, 1], np.float32([51, 51, 51]) / 255)


def test_transparency_lies_over_white_palettes_give_colours_and_16_bit_grey_keeps_16_bits(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 255, 0] + [0] * 765)
    sixteen = Image.fromarray(np.full((4, 4), 1000, dtype=np.uint16))
    assert sixteen.mode.startswith("I;16")
    source = folder(tmp_path, {"dark": {"a.png": rgba, "b.png": palette}, "light": {"c.png": sixteen}})
    x = load(source, input_shape=(3, 4, 4)).train.x
    np.testing.assert_array_equal(x[0, :, 0, 0], [0, 0, 1])
    np.testing.assert_array_equal(x[0, :, 3, 3], [1, 1, 1])  # transparent: white
    np.testing.assert_array_equal(x[1, :, 2, 2], [0, 1, 0])
    np.testing.assert_array_equal(x[2, :, 0, 0], np.float32([1000 / 65535] * 3))


def test_jpeg_files_are_read(tmp_path):
    source = folder(tmp_path, {"dark": {"a.jpg": grey(10)}, "light": {"b.JPEG": Image.new("RGB", (4, 4), (200,) * 3)}})
    x = load(source).train.x
    np.testing.assert_allclose(x[:, 0, 0, 0], np.float32([10, 200]) / 255, atol=2 / 255)


def test_another_size_is_refused_naming_the_file_and_both_sizes(tmp_path):
    source = two_classes(tmp_path, **{"wide.png": grey(10, size=(6, 3))})
    error(source, f"{source / 'dark' / 'wide.png'} is 3x6 (height x width), the spec's input is 1x4x4",
          "resize=stretch")


@pytest.mark.parametrize("resize, rows", [
    ("stretch", [1, 1, 1, 1]),   # the whole 4x2 image stretched over 4x4
    ("fit", [0, 1, 1, 0]),       # scaled to 4x2 inside 4x4: black above and below
    ("crop", [1, 1, 1, 1]),      # scaled to cover 4x4, its middle kept
])
def test_resize_stretches_fits_or_crops(tmp_path, resize, rows):
    source = folder(tmp_path, {"dark": {"a.png": grey(255, size=(8, 4))}, "light": {"b.png": grey(255)}})
    x = load(source, resize=resize).train.x
    np.testing.assert_allclose(x[0, 0, :, 1], rows, atol=1e-6)
    assert x.shape == (2, 1, 4, 4)


@pytest.mark.parametrize("make, words", [
    (lambda d: (d / "x.png").write_text("not an image"), "x.png: not an image Pillow can read"),
    (lambda d: (d / "x.png").write_bytes((d / "0.png").read_bytes()[:50]), "x.png: image file is truncated"),
    (lambda d: grey(1).save(d / "x.png", format="GIF"), "x.png is a GIF image, not PNG or JPEG"),
    (lambda d: (d / "notes.txt").write_text("hello"), "notes.txt is not a PNG or JPEG file"),
    (lambda d: (d / "inner").mkdir(), "holds a folder, inner"),
    (lambda d: os.symlink(d / "gone.png", d / "x.png"), "x.png: No such file or directory"),
    (lambda d: os.symlink(d / "x.png", d / "x.png"), "x.png: Too many levels of symbolic links"),
    (lambda d: os.mkfifo(d / "x.png"), "x.png is a FIFO (named pipe), not an image file"),
])
def test_a_bad_file_is_named(tmp_path, make, words):
    source = two_classes(tmp_path)
    make(source / "dark")
    shown = error(source, words)
    assert "Traceback" not in shown


@pytest.mark.parametrize("side, words", [
    (40, "big.png claims 40x40 pixels (height x width), more than Pillow's limit of 1,000 (a decompression bomb?)"),
    (100, "big.png: Image size (10000 pixels) exceeds limit of 2000 pixels"),  # Pillow's own refusal, past twice
])
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, monkeypatch, side, words):
    source = two_classes(tmp_path, **{"big.png": grey(0, size=(side, side))})
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    decoded = []
    real_load = Image.Image.load

    def load(self):
        decoded.append(Path(getattr(self, "filename", "")).name)
        return real_load(self)

    monkeypatch.setattr(Image.Image, "load", load)
    error(source, words)
    assert "big.png" not in decoded  # refused from its header


@pytest.mark.parametrize("layout, words", [
    (lambda root: (root / "readme.png").write_text(""), "holds the file readme.png at its top level"),
    (lambda root: (root / "empty").mkdir(), "the class folder {root}/empty holds no images"),
])
def test_the_folders_layout_is_checked(tmp_path, layout, words):
    source = two_classes(tmp_path)
    layout(source)
    error(source, words.format(root=source))


def test_classes_must_match_the_specs_and_hidden_files_are_skipped(tmp_path):
    source = two_classes(tmp_path)
    (source / "dark" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    assert len(load(source).train) == 10
    error(source, "the image folder", "has classes dark | light, but the spec's output label has classes "
          "light | dark | grey", classes=("light", "dark", "grey"))


def test_the_input_must_be_an_image_of_one_or_three_channels(tmp_path):
    source = two_classes(tmp_path)
    error(source, "images are read grey (1 channel) or RGB (3 channels), but the spec's input image has 2 channels",
          input_shape=(2, 4, 4))
    error(source, "is a folder of images, but the spec's input image is 16", input_shape=(16,))


def test_memory_is_checked_before_any_image_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECC_MEMORY_LIMIT", "100")
    error(two_classes(tmp_path), "the 10 images of", "as float32 needs 640 bytes, more than the 100 bytes that "
          "SPECC_MEMORY_LIMIT allows")


def test_resize_is_refused_for_data_that_is_not_a_folder():
    error("xo", "resize=fit applies to a folder of images, and the data xo is not one", resize="fit")


SPEC_TEXT = """model shades
input image: 1x4x4
output label: light | dark
image -> flatten -> dense -> softmax -> label
train
  data "shapes"{resize}
  epochs 2
"""


def test_specc_train_reads_a_folder_resizes_and_exports(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    two_classes(tmp_path, count=6, **{"big.png": grey(10, size=(8, 8))})
    (tmp_path / "shades.nn").write_text(SPEC_TEXT.format(resize=" resize=stretch"))
    assert main(["train", "shades.nn", "--out", "run"]) == 0
    out = capsys.readouterr().out
    assert "training shades: 12 train, 1 validation" in out
    assert "  data       shapes resize=stretch\n" in out
    assert (tmp_path / "run" / "shades.onnx").exists()


def test_a_bad_image_stops_specc_train_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (two_classes(tmp_path) / "light" / "z.png").write_text("oops")
    (tmp_path / "shades.nn").write_text(SPEC_TEXT.format(resize=""))
    Path("other").mkdir()
    assert main(["train", "shades.nn", "--out", "run", "--data", "shapes"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read the image {Path('shapes') / 'light' / 'z.png'}: not an image Pillow can read")
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_a_resize_word_that_does_not_exist_is_located(tmp_path, capsys):
    (tmp_path / "shades.nn").write_text(SPEC_TEXT.format(resize=" resize=squash"))
    assert main(["check", str(tmp_path / "shades.nn")]) == 2
    err = capsys.readouterr().err
    assert "shades.nn:6:" in err and "refuse or stretch or fit or crop" in err


def test_output_from_data_takes_the_class_folders_names(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    two_classes(tmp_path, count=6)
    (tmp_path / "shades.nn").write_text(SPEC_TEXT.format(resize="").replace("light | dark", "from data"))
    assert specc.load("shades.nn").model.outputs[0].classes == ("dark", "light")
    assert main(["train", "shades.nn", "--out", "run"]) == 0
    (tmp_path / "xo.nn").write_text(SPEC_TEXT.format(resize="").replace("light | dark", "from data")
                                    .replace('"shapes"', "xo"))
    assert main(["check", "xo.nn"]) == 2
    assert capsys.readouterr().err.startswith("xo.nn:3:8: error: output label: 'from data' takes the tags or labels "
                                              "of sentences, or the class folders of a folder of images; this spec "
                                              "reads no words, and its data is no folder")


def test_a_built_in_name_means_the_built_in_set_even_beside_a_folder_of_that_name(tmp_path, monkeypatch):
    """`--data xo` in a folder that holds a folder `xo` trains on the built-in X and O images;
    `./xo` names the folder."""
    two_classes(tmp_path).rename(tmp_path / "xo")
    monkeypatch.chdir(tmp_path)
    built_in = load_data("xo", input_name="image", input_shape=(1, 12, 12), output_name="label",
                         classes=("X", "O"))
    assert built_in.train.x.shape[1:] == (1, 12, 12) and len(built_in.train.x) > 1000
    assert load("./xo").train.x.shape == (10, 1, 4, 4)
