"""The pictures of `specc show`, drawn with matplotlib (Agg) from arrays that the NumPy
interpreter computed: nothing here recomputes a layer. Each `draw_*` fills one matplotlib
SubFigure; `compose` stacks them into one figure and `figure_bytes` saves it deterministically.

Colours: values that can be either sign (weights, feature maps, hidden states) use a diverging
map whose white is exactly zero (red positive, blue negative), with a colour bar; probabilities
a sequential one from 0 to 1.
"""
from __future__ import annotations

import io
from typing import Sequence

import numpy as np

from .errors import SpecError

DIVERGING = "RdBu_r"
SEQUENTIAL = "Greens"
EXTRA_HINT = 'install matplotlib with: python -m pip install -e ".[plot]"'
MAX_NUMBERED = 8  # numbers are written in the cells of maps and kernels up to 8x8
MAX_COLUMNS = 16  # channels or filters drawn per row; the title says how many there are
MAX_ROWS = 8  # input channels of a conv's kernels drawn
DPI = 100
MAX_PIXELS = 32_768  # a side; Agg draws at most 2**16, and a picture this large is past reading anyway


def pyplot():
    """matplotlib.pyplot on the Agg backend (no window, the same pixels everywhere); SpecError
    naming the extra when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        raise SpecError("specc show draws with matplotlib, which is not installed", hint=EXTRA_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ---- the figure: sections stacked, saved to bytes ----

Section = tuple  # (width in inches, height in inches, draw(subfigure))


def compose(sections: Sequence[Section], title: str, side: Section | None = None):
    """One figure under `title`: the sections stacked top to bottom, as wide as the widest, and
    `side` (the network's graph), if given, on their left."""
    plt = pyplot()
    width = max((w for w, _, _ in sections), default=0.0)
    height = sum(h for _, h, _ in sections)
    side_width, side_height = (side[0], side[1]) if side else (0.0, 0.0)
    size = (max(width + side_width, 0.11 * len(title)), max(height, side_height) + 0.5)  # bold 12 pt: 0.11 in a letter
    if max(size) * DPI > MAX_PIXELS:
        raise SpecError(f"the picture would be {size[0] * DPI:,.0f} x {size[1] * DPI:,.0f} pixels, more than "
                        f"{MAX_PIXELS:,} a side", hint="show a smaller network, or fewer layers of it")
    figure = plt.figure(figsize=size, layout="constrained")
    figure.suptitle(title, fontsize=12, fontweight="bold")
    main = figure
    if side and sections:
        left, main = figure.subfigures(1, 2, width_ratios=[side_width, width])
        side[2](left)
    elif side:
        side[2](figure)
    if sections:
        heights = [h for _, h, _ in sections] + ([max(side_height - height, 0)] if side_height > height else [])
        subfigures = main.subfigures(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
        for subfigure, (_, _, draw) in zip(subfigures, sections):
            draw(subfigure)
    return figure


def figure_bytes(figure, form: str) -> bytes:
    """The figure as PNG, SVG or PDF bytes, the same bytes on every run: no dates or software
    versions in the metadata, SVG ids from a fixed salt. The figure is closed."""
    import matplotlib

    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}}[form]
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "specc", "pdf.compression": 6}):
        figure.savefig(buffer, format=form, dpi=DPI, metadata=metadata)
    pyplot().close(figure)
    return _numbered_clip_paths(buffer.getvalue()) if form == "svg" else buffer.getvalue()


def _numbered_clip_paths(svg: bytes) -> bytes:
    """SVG with its clip paths named clip0, clip1 ... in order of first use. matplotlib names
    them by a hash of their rectangles, whose last bits the constrained layout varies from one
    call to the next (the printed numbers stay the same)."""
    import re

    names: dict[bytes, bytes] = {}
    hashed = rb'(?<=url\(#)p[0-9a-f]{10}(?=\))|(?<=<clipPath id=")p[0-9a-f]{10}(?=")'
    return re.sub(hashed, lambda m: names.setdefault(m.group(), b"clip%d" % len(names)), svg)


# ---- heat maps with numbers ----

def number_text(value: float) -> str:
    """A cell's number as written: at most two decimals, no trailing zeros, no '-0'."""
    text = f"{round(float(value), 2):g}"
    return "0" if text == "-0" else text


def symmetric_limit(values: np.ndarray) -> float:
    """The colour scale's half-width: the largest magnitude (1 for an all-zero array), so zero
    is the middle colour."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    return largest if largest > 0 and np.isfinite(largest) else 1.0


def heat_map(axes, values: np.ndarray, limit: float, numbered: bool, cmap: str = DIVERGING, vmin=None):
    """Draw a (H, W) array as cells on a colour scale from -limit (or vmin) to limit, numbers in
    the cells when asked. Returns the image, for a colour bar."""
    low = -limit if vmin is None else vmin
    image = axes.imshow(values, cmap=cmap, vmin=low, vmax=limit, interpolation="nearest", aspect="auto")
    axes.set_xticks([])
    axes.set_yticks([])
    if numbered:
        texts = [[number_text(v) for v in row] for row in values]
        size = 8 if max(len(t) for row in texts for t in row) <= 2 else 6.5
        for (i, j), text in np.ndenumerate(np.array(texts, dtype=object)):
            # white on the strongest colours, black elsewhere
            strong = abs(values[i, j] - (low + limit) / 2) > 0.6 * (limit - low) / 2
            axes.text(j, i, text, ha="center", va="center", fontsize=size, color="white" if strong else "black")
    return image


def _grid(subfigure, rows: int, widths: Sequence[float]):
    """rows x len(widths) axes, their columns `widths` inches wide (about: the layout takes its
    margins), all hidden until drawn into. In a figure wider than that, an empty last column
    takes the rest, so that the panels keep their size."""
    spare = max(subfigure.figure.get_figwidth() - sum(widths) - 0.4, 0.0)
    axes = subfigure.subplots(rows, len(widths) + 1, squeeze=False, width_ratios=[*widths, spare + 0.01])
    for one in axes.flat:
        one.set_axis_off()
    return axes


def _panel_size(height: int, width: int) -> float:
    """Inches of one map's panel: about 0.25 a cell, between 1.1 and 2."""
    return float(np.clip(0.25 * max(height, width), 1.1, 2.0))


# ---- feature maps ----

def feature_map_section(rows: Sequence[tuple[str, np.ndarray]]) -> Section:
    """Feature maps: one row per (label, (C, H, W) values), the input first, a map per channel
    (at most MAX_COLUMNS), each row on its own colour scale centred at zero, numbers in cells of
    maps up to MAX_NUMBERED a side. Each map's title is `label [channel]`."""
    columns = min(max(v.shape[0] for _, v in rows), MAX_COLUMNS)
    panel = max(_panel_size(*v.shape[1:]) for _, v in rows)

    def draw(subfigure):
        # a narrow column after the maps holds each row's colour bar, so the maps of all rows line up
        grid = _grid(subfigure, len(rows), [panel] * columns + [0.15])
        for r, (label, values) in enumerate(rows):
            limit = symmetric_limit(values)
            numbered = max(values.shape[1:]) <= MAX_NUMBERED
            shown = min(values.shape[0], columns)
            for c in range(shown):
                axes = grid[r, c]
                axes.set_axis_on()
                image = heat_map(axes, values[c], limit, numbered)
                axes.set_aspect("equal")
                axes.set_title(f"{label} [{c}]", fontsize=8)
            more = f"\n({shown} of {values.shape[0]})" if shown < values.shape[0] else ""
            grid[r, 0].set_ylabel(f"{label}\n{'x'.join(map(str, values.shape))}{more}", fontsize=8)
            grid[r, columns].set_axis_on()
            subfigure.colorbar(image, cax=grid[r, columns])

    return (columns * panel + 1.4, len(rows) * (panel + 0.35), draw)


# ---- filters ----

def filter_section(label: str, kernels: np.ndarray) -> Section:
    """One conv layer's kernels, (F, C, kh, kw): a column per filter, a row per input channel
    (at most MAX_COLUMNS and MAX_ROWS), one colour scale for the layer centred at zero; numbers
    in the cells when the layer has at most 8 kernels of at most 5x5."""
    filters, channels, kh, kw = kernels.shape
    columns, rows = min(filters, MAX_COLUMNS), min(channels, MAX_ROWS)
    numbered = filters * channels <= 8 and max(kh, kw) <= 5
    panel = float(np.clip((0.55 if numbered else 0.25) * max(kh, kw), 0.8, 1.6))  # room for numbers like -1.07
    limit = symmetric_limit(kernels)

    def draw(subfigure):
        grid = _grid(subfigure, rows, [panel] * columns)
        for f in range(columns):
            for c in range(rows):
                axes = grid[c, f]
                axes.set_axis_on()
                image = heat_map(axes, kernels[f, c], limit, numbered)
                axes.set_aspect("equal")
                if c == 0:
                    axes.set_title(f"filter {f}", fontsize=8)
                if f == 0:
                    axes.set_ylabel(f"input {c}", fontsize=8)
        shown = "" if (columns, rows) == (filters, channels) else (f"; shown: {columns} of the {filters} filters, "
                                                                   f"{rows} of the {channels} input channels")
        subfigure.suptitle(f"{label}: {filters} filters of {channels}x{kh}x{kw}, one colour scale{shown}", fontsize=9)
        subfigure.colorbar(image, ax=list(grid[:, :columns].flat), shrink=0.8, aspect=15, pad=0.01, label="weight")

    return (max(columns * panel + 1.4, 4.0, 0.075 * len(label) + 3.5), rows * panel + 0.6, draw)


# ---- sequences ----

def _sentence_width(words: Sequence[str], title: str) -> float:
    """Inches for a picture with a column per word under a 9-point title."""
    return max(4.0, 1.0 * len(words) + 1.5, 0.075 * len(title) + 1.0)


def tag_section(words: Sequence[str], output: str, tags: Sequence[str], probabilities: np.ndarray,
                what: str = "probability") -> Section:
    """One per-word classifier output: a cell per word holding its class and probability (or
    score, `what`: a classifier without softmax), shaded from 0 to 1, the words below."""
    title = f"{output}: class and {what} of each word"
    width = _sentence_width(words, title)

    def draw(subfigure):
        axes = subfigure.subplots()
        image = axes.imshow(probabilities[None, :], cmap=SEQUENTIAL, vmin=0, vmax=1, aspect="auto")
        for t, (tag, p) in enumerate(zip(tags, probabilities)):
            axes.text(t, 0, f"{tag}\n{p:.2f}", ha="center", va="center", fontsize=9,
                      color="white" if p > 0.6 else "black")
        axes.set_xticks(range(len(words)), words, fontsize=10)
        axes.set_yticks([])
        axes.set_title(title, fontsize=9)
        subfigure.colorbar(image, ax=axes, shrink=0.9, aspect=6, pad=0.01, label=what)

    return (width, 1.6, draw)


def steps_section(steps: Sequence[str], label: str, values: np.ndarray, what: str = "state") -> Section:
    """A value per step, (T, units), as a heat map centred at zero: a column per step (word),
    a row per unit, numbers in the cells when it is at most 8x8. `what` names the colour bar."""
    width = _sentence_width(steps, label)
    numbered = max(values.shape) <= MAX_NUMBERED
    height = (0.3 * values.shape[1] if numbered else float(np.clip(0.03 * values.shape[1], 1.2, 3.0))) + 0.7

    def draw(subfigure):
        axes = subfigure.subplots()
        image = heat_map(axes, values.T, symmetric_limit(values), numbered)
        axes.set_xticks(range(len(steps)), steps, fontsize=10)
        axes.set_ylabel(f"unit (0-{values.shape[1] - 1})", fontsize=8)
        axes.set_title(label, fontsize=9)
        subfigure.colorbar(image, ax=axes, shrink=0.9, aspect=10, pad=0.01, label=what)

    return (width, height, draw)


# ---- training ----

def _curves(history: Sequence[dict]) -> dict[str, list[tuple[str, list]]]:
    """{panel: [(line label, values per epoch)]} of a run's history: loss, accuracy (%) and slot
    F1 (%) where the records hold them; a spec with several outputs adds each output's own."""
    def lines(records: Sequence[dict], prefix: str) -> dict[str, list]:
        found = {"loss": [(prefix + "train", "loss"), (prefix + "validation", "val_loss")],
                 "accuracy (%)": [(prefix + "train", "train_accuracy"), (prefix + "validation", "val_accuracy")],
                 "slot F1 (%)": [(prefix + "validation", "val_f1")]}
        scale = {"loss": 1.0, "accuracy (%)": 100.0, "slot F1 (%)": 100.0}
        return {panel: [(name, [scale[panel] * r[key] for r in records]) for name, key in keys
                        if all(r.get(key) is not None for r in records)] for panel, keys in found.items()}

    panels = lines(history, "")
    names = history[0].get("outputs") or {}
    for name in names:
        for panel, found in lines([r["outputs"][name] for r in history], f"{name} ").items():
            panels[panel] += found
    return {panel: found for panel, found in panels.items() if found}


def kept_epoch(history: Sequence[dict]) -> tuple[int, str]:
    """(epoch, why) of the weights a run kept: the last marked best (`keep best`), else the last."""
    best = [r["epoch"] for r in history if r.get("best")]
    return (best[-1], "best on validation, best.npz") if best else (history[-1]["epoch"], "the last")


def training_section(history: Sequence[dict]) -> Section:
    """A run's curves per epoch, a panel for loss, accuracy and slot F1 (those it has), the kept
    epoch marked by a dashed line in each."""
    panels = _curves(history)
    epochs = [r["epoch"] for r in history]
    kept, why = kept_epoch(history)

    def draw(subfigure):
        axes_row = subfigure.subplots(1, len(panels), squeeze=False)[0]
        for axes, (panel, found) in zip(axes_row, panels.items()):
            for name, values in found:
                axes.plot(epochs, values, marker="o", markersize=3, label=name)
            axes.axvline(kept, color="black", linestyle="--", linewidth=1, label=f"kept: epoch {kept} ({why})")
            axes.set(xlabel="epoch", ylabel=panel, title=panel)
            axes.xaxis.get_major_locator().set_params(integer=True)
            axes.legend(fontsize=7)
            axes.grid(alpha=0.3)

    return (max(4.0 * len(panels), 6.0), 3.2, draw)


# ---- the network as a graph ----

BOX_COLOURS = {"input": "#dddddd", "output": "#dddddd", "conv": "#c6dbef", "maxpool": "#c7e9c0",
               "avgpool": "#c7e9c0", "globalpool": "#c7e9c0", "rnn": "#dadaeb", "dense": "#fdd0a2",
               "add": "#fcbba1", "multiply": "#fcbba1", "concat": "#fcbba1"}  # merges stand out
BOX_WIDTH, BOX_HEIGHT, ROW = 3.6, 0.46, 0.72  # inches


def graph_section(boxes: Sequence[tuple[str, str, str]], arrows: Sequence[tuple[int, int]]) -> Section:
    """The network as boxes in written order, top to bottom: (kind, first line, second line)
    each, and (from, to) arrows between them by index. An arrow to the next box is straight;
    one that skips boxes (a branch, or a merge's other operand) goes round on the right, each
    further out than the one before, so that branches and merges read as such."""
    skips = [(a, b) for a, b in arrows if b != a + 1]
    width = BOX_WIDTH + 0.6 + 0.25 * len(skips)
    height = ROW * len(boxes) + 0.2

    def draw(subfigure):
        from matplotlib.patches import FancyBboxPatch

        axes = subfigure.subplots()
        axes.set_axis_off()
        axes.set_aspect("equal")  # boxes keep their proportions in a wider figure
        axes.set_xlim(-0.1, width - 0.1)
        axes.set_ylim(-height + ROW / 2, ROW / 2 + 0.1)
        for k, (kind, first, second) in enumerate(boxes):
            axes.add_patch(FancyBboxPatch((0, -k * ROW - BOX_HEIGHT / 2), BOX_WIDTH, BOX_HEIGHT,
                                          boxstyle="round,pad=0.02", facecolor=BOX_COLOURS.get(kind, "white"),
                                          edgecolor="black", linewidth=0.8, clip_on=False))
            axes.text(BOX_WIDTH / 2, -k * ROW + 0.09, first, ha="center", va="center", fontsize=8, fontweight="bold")
            axes.text(BOX_WIDTH / 2, -k * ROW - 0.11, second, ha="center", va="center", fontsize=7)
        style = {"arrowstyle": "-|>", "color": "black", "linewidth": 0.8, "shrinkA": 0, "shrinkB": 0}
        for a, b in arrows:
            if b == a + 1:
                axes.annotate("", xy=(BOX_WIDTH / 2, -b * ROW + BOX_HEIGHT / 2 + 0.02),
                              xytext=(BOX_WIDTH / 2, -a * ROW - BOX_HEIGHT / 2 - 0.02), arrowprops=style)
        for j, (a, b) in enumerate(skips):
            arm = 72 * (0.2 + 0.25 * j)  # points: each skip arrow further out
            axes.annotate("", xy=(BOX_WIDTH + 0.02, -b * ROW), xytext=(BOX_WIDTH + 0.02, -a * ROW),
                          arrowprops={**style, "color": "#b2182b",
                                      "connectionstyle": f"arc,angleA=0,angleB=0,armA={arm},armB={arm},rad=6"})

    return (width, height, draw)

