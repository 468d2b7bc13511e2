"""The built-in X/O data (seed-examples §3): hand-drawn-looking X and O glyphs at any size.

Each glyph is a set of line segments (an X: two strokes bent at a jittered midpoint; an O: a
wobbly, slightly oval 16-gon). A random affine map (scale, aspect, shear, rotation, shift)
places them in the image, and the image is the distance from each pixel centre to the nearest
segment, turned into an anti-aliased stroke of random thickness, plus pixel noise.
"""
from __future__ import annotations

import numpy as np

from specc.errors import SpecError

from . import Dataset, SpecSide, Split, labels_by_name

CLASSES = ("X", "O")
TRAIN_SIZE, VALIDATION_SIZE, TEST_SIZE = 2000, 400, 400
MIN_SIZE = 6
TEST_SEED = 20261126
# The test stream gets a spawn key that no plain `--seed N` produces, so no run trains on it.
TEST_STREAM = np.random.SeedSequence(TEST_SEED, spawn_key=(1,))

O_VERTICES = 16
ENDPOINT_JITTER, MIDPOINT_JITTER = 0.10, 0.08  # in glyph units: the glyph spans [-1, 1]
O_WOBBLE = 0.08                                # amplitude of the O's 2nd and 3rd harmonics
SCALE = (0.55, 0.85)                           # glyph half-size / half the shorter image side
ASPECT, SHEAR, ROTATION_DEG = 0.15, 0.15, 15.0
STROKE = (0.035, 0.085)                        # stroke half-width / the shorter image side
MIN_HALF_WIDTH = 0.7                           # pixels: thinner strokes vanish between pixel centres
INK = (0.85, 1.0)
NOISE = 0.08                                   # largest standard deviation of the pixel noise
CHUNK_VALUES = 2_000_000                       # distance-field values computed at once


def load_xo(spec: SpecSide, seed: int) -> Dataset:
    """2,000 train and 400 validation images drawn with `seed`, and the fixed 400 test images,
    at the spec's input size (1, H, W); labels are indices into the spec's classes."""
    height, width = image_size(spec)
    to_spec = labels_by_name(np.arange(len(CLASSES)), CLASSES, spec, "the xo data set")

    def split(n: int, rng: np.random.Generator) -> Split:
        images, labels = make_xo(n, height, width, rng)
        return Split(images, to_spec[labels])

    rng = np.random.default_rng(seed)
    train = split(TRAIN_SIZE, rng)
    validation = split(VALIDATION_SIZE, rng)
    test = split(TEST_SIZE, np.random.default_rng(TEST_STREAM))
    return Dataset("xo", train, validation, test, spec.classes)


def image_size(spec: SpecSide) -> tuple[int, int]:
    """(H, W) of the spec's input, which must be a one-channel image of at least 6x6."""
    shape, name = spec.input_shape, spec.input_name
    if len(shape) != 3 or not all(isinstance(d, int) for d in shape):
        raise SpecError(f"the xo data set makes images 1xHxW, but the spec's input {name} is {spec.input_text()}",
                        expected="an image input 1xHxW", received=spec.input_text(),
                        hint=f"declare 'input {name}: 1x12x12'")
    channels, height, width = shape
    if channels != 1:
        raise SpecError(f"the xo data set makes one-channel images, but the spec's input {name} has "
                        f"{channels} channels ({spec.input_text()})",
                        expected=f"1x{height}x{width}", received=spec.input_text(),
                        hint=f"declare 'input {name}: 1x{height}x{width}'")
    if min(height, width) < MIN_SIZE:
        raise SpecError(f"the xo data set needs images of at least {MIN_SIZE}x{MIN_SIZE}, but the spec's input "
                        f"{name} is {spec.input_text()}",
                        expected=f"1xHxW with H, W >= {MIN_SIZE}", received=spec.input_text(),
                        hint=f"declare 'input {name}: 1x12x12'")
    return height, width


def make_xo(n: int, height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` distorted X and O images, half of each in random order.

    Returns images (n, 1, height, width) float32 in [0, 1] (background 0, strokes near 1) and
    labels (n,) int64, 0 = X and 1 = O.
    """
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    images = np.empty((n, 1, height, width), dtype=np.float32)
    for label, strokes in enumerate((x_strokes, o_strokes)):
        where = np.flatnonzero(labels == label)
        images[where, 0] = render(strokes(len(where), rng), height, width, rng)
    return images, labels


def x_strokes(m: int, rng: np.random.Generator) -> np.ndarray:
    """Segments (m, 4, 2, 2) of m X glyphs in glyph units: two corner-to-corner strokes, each
    bent at a jittered midpoint; axes are (glyph, segment, end, xy)."""
    ends = np.array([[[-1, -1], [1, 1]], [[1, -1], [-1, 1]]], dtype=np.float32)
    ends = ends + rng.normal(0, ENDPOINT_JITTER, (m, 2, 2, 2))
    middle = ends.mean(axis=2, keepdims=True) + rng.normal(0, MIDPOINT_JITTER, (m, 2, 1, 2))
    points = np.concatenate([ends[:, :, :1], middle, ends[:, :, 1:]], axis=2)  # (m, stroke, 3, xy)
    return np.stack([points[:, :, :-1], points[:, :, 1:]], axis=3).reshape(m, 4, 2, 2)


def o_strokes(m: int, rng: np.random.Generator) -> np.ndarray:
    """Segments (m, 16, 2, 2) of m O glyphs: a closed 16-gon on a circle of radius 1 whose
    radius wobbles with the 2nd and 3rd harmonics, squeezed into a slightly tall oval."""
    angle = 2 * np.pi * np.arange(O_VERTICES) / O_VERTICES + rng.uniform(0, 2 * np.pi, (m, 1))
    radius = 1 + sum(rng.uniform(0, O_WOBBLE, (m, 1)) * np.cos(h * angle + rng.uniform(0, 2 * np.pi, (m, 1)))
                     for h in (2, 3))
    width = rng.uniform(0.75, 1.0, (m, 1))
    points = np.stack([width * radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
    return np.stack([points, np.roll(points, -1, axis=1)], axis=2)


def render(segments: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Images (m, height, width) float32 of glyph `segments` (m, S, 2, 2) in glyph units, each
    under its own random affine map, stroke thickness, ink and noise."""
    m = len(segments)
    half = min(height, width) / 2
    scale = rng.uniform(*SCALE, m) * half
    aspect = np.exp(rng.uniform(-ASPECT, ASPECT, m))
    shear = rng.uniform(-SHEAR, SHEAR, m)
    turn = np.radians(rng.uniform(-ROTATION_DEG, ROTATION_DEG, m))
    cos, sin = np.cos(turn), np.sin(turn)
    # Linear part: rotate . shear . scale; pixel y grows downwards, which only mirrors the glyph.
    sx, sy = scale * aspect, scale / aspect
    linear = np.stack([np.stack([cos * sx, (cos * shear - sin) * sy], -1),
                       np.stack([sin * sx, (sin * shear + cos) * sy], -1)], axis=1)  # (m, 2, 2)
    points = segments @ linear[:, None].transpose(0, 1, 3, 2)
    half_width = np.maximum(MIN_HALF_WIDTH, rng.uniform(*STROKE, m) * min(height, width))
    # Shift the glyph anywhere it stays whole: the room is what its extent leaves free.
    extent = np.abs(points).max(axis=(1, 2)) + half_width[:, None]
    room = np.maximum(0, np.array([width / 2, height / 2]) - extent)
    centre = np.array([width / 2, height / 2]) + rng.uniform(-1, 1, (m, 2)) * room
    points = (points + centre[:, None, None, :]).astype(np.float32)

    distance = distance_field(points, height, width)
    ink = np.clip(half_width[:, None, None] + 0.5 - distance, 0, 1) * rng.uniform(*INK, (m, 1, 1))
    noise = rng.normal(0, 1, (m, height, width)) * rng.uniform(0, NOISE, (m, 1, 1))
    return np.clip(ink + noise, 0, 1).astype(np.float32)


def distance_field(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Distance (m, height, width) float32, in pixels, from each pixel centre to the nearest of
    the segments `points` (m, S, 2 ends, xy) given in pixel coordinates."""
    m, s = points.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    px, py = xs.ravel(), ys.ravel()
    out = np.empty((m, height * width), dtype=np.float32)
    step = max(1, CHUNK_VALUES // (s * height * width))
    for start in range(0, m, step):
        a = points[start:start + step, :, 0, :, None]  # (k, S, xy, 1)
        ab = points[start:start + step, :, 1, :, None] - a
        apx, apy = px - a[:, :, 0], py - a[:, :, 1]    # (k, S, HW)
        length2 = np.maximum(ab[:, :, 0] ** 2 + ab[:, :, 1] ** 2, 1e-12)
        t = np.clip((apx * ab[:, :, 0] + apy * ab[:, :, 1]) / length2, 0, 1)
        d2 = (apx - t * ab[:, :, 0]) ** 2 + (apy - t * ab[:, :, 1]) ** 2
        out[start:start + step] = np.sqrt(d2.min(axis=1))
    return out.reshape(m, height, width)
