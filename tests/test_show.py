"""specc show: feature maps, filters, hidden states and training curves as pictures. The numbers
written in cells are read back from the figure and compared with the lecture's and with the
NumPy interpreter's (runtime.interpreter.layer_values)."""
from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import specc
from specc import pictures
from specc.cli import main
from specc.runtime.interpreter import layer_values
from specc.show import network_graph, open_target, sections_for

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
LECTURE_IMAGE = SPECS / "inputs" / "lecture_image.json"
# seed-examples §2: the two 4x4 feature maps of the lecture's filters on its 6x6 image
LECTURE_MAPS = [[[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]],
                [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]]]
# seed-examples §3: the three 3x3 features of a standard X
X_FEATURES = [[[1, -1, -1], [-1, 1, -1], [-1, -1, 1]],
              [[1, -1, 1], [-1, 1, -1], [1, -1, 1]],
              [[-1, -1, 1], [-1, 1, -1], [1, -1, -1]]]


def figure_of(target: str, **given):
    """The figure specc show draws for `target` (not saved), with inputs or text as `show` takes them."""
    inputs, text = given.get("inputs"), given.get("text")
    return pictures.compose(*sections_for(open_target(target, given.get("weights")), inputs, text))


def axes_titled(figure, title: str):
    found = [axes for axes in figure.get_axes() if axes.get_title() == title]
    assert len(found) == 1, f"no single axes titled {title!r}: {[a.get_title() for a in figure.get_axes()]}"
    return found[0]


def numbers_in(axes, shape) -> np.ndarray:
    """The numbers written in an axes' cells, row by row, as an array of `shape`."""
    return np.array([float(t.get_text()) for t in axes.texts]).reshape(shape)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG header."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def train(folder: Path, spec: str, epochs: int) -> Path:
    out = folder / Path(spec).stem
    assert main(["train", str(SPECS / spec), "--epochs", str(epochs), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def tagger_run(tmp_path_factory) -> Path:
    """A run folder of specs/slots_elman.nn trained for 2 epochs (keep best)."""
    return train(tmp_path_factory.mktemp("runs"), "slots_elman.nn", 2)


# ---- the interpreter's every-layer values ----

def test_layer_values_give_every_layer_as_written_and_the_lecture_maps():
    net = specc.load(SPECS / "seed_conv.nn")
    values = layer_values(net.model, net.weights, net.prepare({"image": json.loads(LECTURE_IMAGE.read_text())}))
    assert list(values) == ["conv@7"]
    np.testing.assert_array_equal(values["conv@7"], np.array([LECTURE_MAPS], np.float32))


def test_layer_values_end_with_the_outputs_of_a_graph(rng):
    net = specc.load(SPECS / "digits_residual.nn")
    image = rng.random((2, 1, 8, 8)).astype(np.float32)
    values = layer_values(net.model, net.weights, net.prepare({"image": image}))
    assert list(values) == [layer.id for layer in net.model.layers]
    # relu then maxpool, fused conv+maxpool in `forward`: the same numbers one layer at a time
    np.testing.assert_allclose(values[net.model.layers[-1].id], net.run(image=image)["digit"], rtol=1e-6, atol=1e-7)


# ---- feature maps ----

def test_seed_conv_feature_maps_write_the_lecture_numbers(tmp_path, capsys):
    image = np.array(json.loads(LECTURE_IMAGE.read_text()), np.float32)
    figure = figure_of(str(SPECS / "seed_conv.nn"), inputs={"image": image})
    for channel in (0, 1):
        np.testing.assert_array_equal(numbers_in(axes_titled(figure, f"conv@7 [{channel}]"), (4, 4)),
                                      LECTURE_MAPS[channel])
    np.testing.assert_array_equal(numbers_in(axes_titled(figure, "input image [0]"), (6, 6)), image)
    colour = axes_titled(figure, "conv@7 [0]").images[0]
    assert (colour.get_cmap().name, colour.norm.vmin, colour.norm.vmax) == ("RdBu_r", -4, 4)  # zero in the middle
    assert figure._suptitle.get_text() == "seed_conv: feature maps (the spec's own weights)"

    out = tmp_path / "maps.png"
    assert main(["show", str(SPECS / "seed_conv.nn"), "--input", f"image={LECTURE_IMAGE}", "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert png_size(out) == (807, 640)  # 8.07 x 6.4 inches at 100 dpi


def test_x_or_o_feature_maps_after_every_conv_activation_and_pool_with_the_answer():
    net = specc.load(SPECS / "x_or_o.nn")
    image = np.array(json.loads((SPECS / "inputs" / "x_12x12.json").read_text()), np.float32)
    figure = figure_of(str(SPECS / "x_or_o.nn"), inputs={"image": image})
    values = layer_values(net.model, net.weights, net.prepare({"image": image}))
    titles = {axes.get_title() for axes in figure.get_axes()}
    for layer, channels in (("conv@8", 3), ("relu@12", 3), ("maxpool@12", 3), ("conv@13", 8), ("relu@13", 8),
                            ("maxpool@13", 8)):
        assert {f"{layer} [{c}]" for c in range(channels)} <= titles
    # 12x12 maps are too large for numbers; the 6x6 and 3x3 ones carry the interpreter's, rounded
    assert not axes_titled(figure, "conv@8 [0]").texts
    np.testing.assert_array_equal(numbers_in(axes_titled(figure, "maxpool@13 [5]"), (3, 3)),
                                  np.round(values["maxpool@13"][0, 5].astype(np.float64), 2))
    assert {"filter 0", "filter 7"} <= titles  # and the filters that made them
    label = net.run(image=image)["label"][0]
    answer = ["X", "O"][int(np.argmax(label))]
    assert figure._suptitle.get_text() == (f"x_or_o: feature maps: label = {answer} (probability {label.max():.2f}) "
                                           "(untrained: starting weights (seed 0))")


# ---- filters ----

def test_x_or_o_filters_before_training_are_the_lecture_x_features():
    figure = figure_of(str(SPECS / "x_or_o.nn"))
    for f, feature in enumerate(X_FEATURES):
        axes = [a for a in figure.get_axes() if a.get_title() == f"filter {f}"][0]
        np.testing.assert_array_equal(numbers_in(axes, (3, 3)), feature)
        assert (axes.images[0].norm.vmin, axes.images[0].norm.vmax) == (-1, 1)  # one scale for the layer
    second = [a for a in figure.get_axes() if a.images and a.images[0].get_array().shape == (3, 3)][3:]
    assert len(second) == 8 * 3 and not any(a.texts for a in second)  # 24 kernels: colours only
    assert figure._suptitle.get_text() == "x_or_o: 400 parameters (untrained: starting weights (seed 0))"


def test_a_run_folder_shows_its_trained_filters_and_curves(tmp_path):
    run = train(tmp_path, "x_or_o.nn", 2)
    trained = specc.load(SPECS / "x_or_o.nn", weights=run / "checkpoint.npz").weights["conv@8.weight"]
    figure = figure_of(str(run))
    for f in range(3):
        axes = [a for a in figure.get_axes() if a.get_title() == f"filter {f}"][0]
        np.testing.assert_array_equal(numbers_in(axes, (3, 3)), np.round(trained[f, 0].astype(np.float64), 2))
    assert not np.array_equal(np.round(trained[:, 0], 2), X_FEATURES)  # trained: no longer the lecture's
    loss = axes_titled(figure, "loss")
    history = json.loads((run / "history.json").read_text())
    np.testing.assert_allclose(loss.lines[0].get_ydata(), [r["loss"] for r in history])
    assert [line.get_label() for line in loss.lines] == ["train", "validation", "kept: epoch 2 (the last)"]
    assert figure._suptitle.get_text() == "x_or_o: 400 parameters (trained: x_or_o/checkpoint.npz)"


# ---- training ----

def test_the_kept_epoch_of_keep_best_is_marked_on_loss_accuracy_and_slot_f1(tagger_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("best.npz", "slots_elman.onnx"):
        (run / name).write_bytes((tagger_run / name).read_bytes())
    history = json.loads((tagger_run / "history.json").read_text())
    history[1]["best"] = False  # as if the second epoch had scored worse on validation
    (run / "history.json").write_text(json.dumps(history))
    figure = figure_of(str(run))
    for panel in ("loss", "accuracy (%)", "slot F1 (%)"):
        kept = axes_titled(figure, panel).lines[-1]
        assert (kept.get_label(), list(kept.get_xdata())) == ("kept: epoch 1 (best on validation, best.npz)", [1, 1])
    f1 = axes_titled(figure, "slot F1 (%)").lines[0]
    np.testing.assert_allclose(f1.get_ydata(), [100 * r["val_f1"] for r in history])


# ---- sequences ----

def test_a_sentence_shows_each_word_with_its_slot_and_probability(tagger_run):
    run = tagger_run
    sentence = "arrive Taipei on November 2nd"
    figure = figure_of(str(run), text=sentence)
    net = specc.load(SPECS / "slots_elman.nn", weights=run / "best.npz")
    probabilities = net.run(words=sentence)["slots"][0]
    strip = axes_titled(figure, "slots: class and probability of each word")
    assert [t.get_text() for t in strip.get_xticklabels()] == sentence.split()
    classes = net.model.outputs[0].classes
    assert [t.get_text() for t in strip.texts] == [f"{classes[k]}\n{p[k]:.2f}" for k, p in
                                                   zip(probabilities.argmax(-1), probabilities)]
    assert [t.get_text().split("\n")[0] for t in strip.texts] == ["other", "dest", "other", "time", "time"]


def test_both_directions_of_every_rnn_layer_as_heat_maps_over_the_words():
    net = specc.load(SPECS / "slots_bi.nn")
    sentence = "leave Beijing on Monday"
    figure = figure_of(str(SPECS / "slots_bi.nn"), text=sentence)
    states = layer_values(net.model, net.weights, net.prepare({"words": sentence}))["rnn@12"][0]  # (T, 2*100)
    for d, direction in enumerate(("forward", "backward")):
        axes = axes_titled(figure, f"rnn@12 (rnn elman hidden=100 bidirectional layers=2): {direction} state per "
                                   "step, the last of 2 stacked")
        np.testing.assert_array_equal(axes.images[0].get_array(), states[:, 100 * d:100 * (d + 1)].T)
        assert [t.get_text() for t in axes.get_xticklabels()] == sentence.split()


def test_the_lecture_rnn_memory_step_by_step():
    sequence = SPECS / "inputs" / "lecture_sequence.json"  # [1,1], [1,1], [2,2]
    figure = figure_of(str(SPECS / "memory.nn"), inputs={"x": np.array(json.loads(sequence.read_text()))})
    # seed-examples §4: hidden states [2,2] [6,6] [16,16], outputs [4,4] [12,12] [32,32]; a row per unit
    rnn = axes_titled(figure, "rnn@8 (rnn elman hidden=2 activation=linear init=ones bias=false): state per step")
    np.testing.assert_array_equal(numbers_in(rnn, (2, 3)), [[2, 6, 16], [2, 6, 16]])
    np.testing.assert_array_equal(numbers_in(axes_titled(figure, "dense@9 (dense 2 init=ones bias=false)"), (2, 3)),
                                  [[4, 12, 32], [4, 12, 32]])
    assert [t.get_text() for t in rnn.get_xticklabels()] == ["step 1", "step 2", "step 3"]
    assert figure._suptitle.get_text() == "memory: every layer, step by step (the spec's own weights)"


# ---- the network ----

def test_the_network_graph_draws_branches_and_merges():
    boxes, arrows = network_graph(specc.load(SPECS / "digits_residual.nn").model)
    figure = pictures.compose([], "digits_residual", side=pictures.graph_section(boxes, arrows))  # no filters: fast
    assert boxes[:3] == [("input", "input image", "line 6 · image (N, 1, 8, 8)"),
                         ("conv", "conv 3x3 filters=16 padding=same", "line 9 · (N, 16, 8, 8) · 160 parameters"),
                         ("relu", "relu  = h", "line 9 · (N, 16, 8, 8) · 0 parameters")]
    assert boxes[6] == ("add", "add h", "line 10 · (N, 16, 8, 8) · 0 parameters")
    assert boxes[-1] == ("output", "output digit", "0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9")
    # h (box 2) feeds the next conv and, round the side, the add: a branch and a merge
    assert arrows == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (2, 6), (6, 7), (7, 8), (8, 9), (9, 10),
                      (10, 11), (11, 12)]
    written = {t.get_text() for axes in figure.get_axes() for t in axes.texts}
    assert {"add h", "line 11 · (N, 10) · 2,570 parameters", "output digit"} <= written


def test_two_heads_branch_from_one_encoder():
    boxes, arrows = network_graph(specc.load(SPECS / "atis_joint.nn").model)
    assert [b[1] for b in boxes] == ["input words", "onehot lowercase", "dense 100 bias=false",
                                     "rnn gru hidden=100 bidirectional  = h", "dense", "softmax", "output slots",
                                     "rnn gru hidden=100", "last", "dense", "softmax", "output intent"]
    assert (3, 4) in arrows and (3, 7) in arrows and (6, 7) not in arrows


# ---- files and mistakes ----

@pytest.mark.parametrize("spec, suffix", [("x_or_o.nn", "png"), ("seed_conv.nn", "svg"), ("seed_conv.nn", "pdf")])
def test_pictures_are_the_same_bytes_every_time(spec, suffix, tmp_path):
    one, two = tmp_path / f"one.{suffix}", tmp_path / f"two.{suffix}"
    for out in (one, two):
        assert main(["show", str(SPECS / spec), "-o", str(out), "--quiet"]) == 0
    assert one.read_bytes() == two.read_bytes()


def test_the_default_picture_is_named_after_the_model_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["show", str(SPECS / "seed_conv.nn"), "--quiet"]) == 0
    assert png_size(tmp_path / "seed_conv.show.png")[0] > 0


@pytest.mark.parametrize("extra, message", [
    (["--input", f"picture={LECTURE_IMAGE}"], "inputs do not match the model: missing image; unknown picture"),
    (["--text", "arrive Taipei"], "--text needs a model with one input of words; seed_conv has inputs image (image)"),
    (["-o", "maps.jpg"], "maps.jpg: its suffix must be .png, .svg or .pdf"),
    (["--input", f"image={LECTURE_IMAGE}", "--text", "hello"], "give --input or --text, not both"),
])
def test_mistakes_exit_2_with_a_message(extra, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["show", str(SPECS / "seed_conv.nn"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_word_models_refuse_feature_maps_and_models_without_spec_text_are_refused(tmp_path, capsys):
    words = tmp_path / "words.json"
    words.write_text('["arrive", "Taipei"]')
    assert main(["show", str(SPECS / "slots_elman.nn"), "--input", f"words={words}"]) == 2
    assert "feature maps need an image input or a sequence of vectors; slots_elman has words (tokens)" in capsys.readouterr().err

    net = specc.load(SPECS / "seed_conv.nn")
    proto = net.to_onnx()
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(proto.SerializeToString())
    assert main(["show", str(bare)]) == 2
    assert f"{bare} holds no spec text (its metadata has no specc.spec)" in capsys.readouterr().err
    empty = tmp_path / "run"
    empty.mkdir()
    assert main(["show", str(empty)]) == 2
    assert f"{empty} holds no exported model (MODEL.onnx)" in capsys.readouterr().err


def test_an_exported_model_shows_its_own_weights(tmp_path):
    model = tmp_path / "seed_conv.onnx"
    assert main(["compile", str(SPECS / "seed_conv.nn"), "-o", str(model), "--quiet"]) == 0
    image = np.array(json.loads(LECTURE_IMAGE.read_text()), np.float32)
    figure = figure_of(str(model), inputs={"image": image})
    np.testing.assert_array_equal(numbers_in(axes_titled(figure, "conv@7 [1]"), (4, 4)), LECTURE_MAPS[1])


def test_a_batch_and_a_model_whose_export_folded_its_weights_are_refused(tagger_run, tmp_path, capsys):
    batch = tmp_path / "two.npy"
    np.save(batch, np.zeros((2, 1, 6, 6), np.float32))
    assert main(["show", str(SPECS / "seed_conv.nn"), "--input", f"image={batch}"]) == 2
    assert "--input image holds 2 samples; specc show draws one" in capsys.readouterr().err
    alone = tmp_path / "slots_elman.onnx"  # outside its run folder: no checkpoint beside it
    alone.write_bytes((tagger_run / "slots_elman.onnx").read_bytes())
    assert main(["show", str(alone)]) == 2
    err = capsys.readouterr().err
    assert f"{alone} does not hold dense@10.weight as specc trains it" in err
    assert "--weights RUN/checkpoint.npz" in err
    assert main(["show", str(alone), "--weights", str(tagger_run / "best.npz"), "-o", str(tmp_path / "a.png")]) == 0


def test_without_matplotlib_show_names_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["show", str(SPECS / "seed_conv.nn"), "-o", str(tmp_path / "x.png")]) == 2
    assert 'python -m pip install -e ".[plot]"' in capsys.readouterr().err
