"""rnn lstm and rnn gru: PyTorch's nn.LSTM and nn.GRU, weights moved both ways unchanged.

- shape rule and weights: the parameter count of the torch module, the documented layout;
- NumPy forward and backward against central finite differences (float64), on numbers and on
  padded sentences (the masked cross-entropy, as fit() computes it);
- against PyTorch autograd: specc's weights copied into torch.nn.LSTM / nn.GRU (functional_call,
  so the gradients land in specc's layout), forward within 1e-5, gradients within 1e-4, and on
  sentences of different lengths through pack_padded_sequence;
- the export (one Scan per stacked layer) equal to the interpreter in onnxruntime and ONNX's
  reference evaluator, and in OpenVINO and tract (tests/other_runtimes.py);
- located errors for arguments the gated cells do not take.
"""
from __future__ import annotations

import numpy as np
import pytest

import specc
from specc.runtime.interpreter import backward_layers, execution_order, padding_mask, run_layers
from tests.helpers import check_layer
from tests.test_errors import expect_error, spec
from tests.test_gradients import TOLERANCE, check_gradients
from tests.test_word_gradients import (ONEHOT, SENTENCES, VOCAB, batch, max_relative_error, one_hot,
                                       outputs_and_grads, tagger, training_step)

CELLS = ("lstm", "gru")
TORCH_NAMES = {"weight_ih": "W", "weight_hh": "R", "bias_ih": "b", "bias_hh": "Rb"}  # the documented layout


def torch_module(cell: str, inputs: int, hidden: int, layers: int = 1, bidirectional: bool = False,
                 bias: bool = True):
    torch = pytest.importorskip("torch")
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    return module(inputs, hidden, num_layers=layers, bias=bias, batch_first=True, bidirectional=bidirectional)


def torch_params(module, leaves: dict) -> dict:
    """torch's parameter name -> specc's weight (by local name, e.g. 'layer1.W'), direction d:
    weight_ih_l{k-1}[_reverse] = W[d], weight_hh = R[d], bias_ih = b[d], bias_hh = Rb[d]."""
    return {name: leaves[specc_name(name)][1 if name.endswith("_reverse") else 0]
            for name, _ in module.named_parameters()}


def specc_name(torch_name: str) -> str:
    """'weight_hh_l1_reverse' -> 'layer2.R' (the direction is the weight's first index)."""
    kind, matrix, layer = torch_name.split("_")[:3]
    return f"layer{int(layer[1:]) + 1}.{TORCH_NAMES[kind + '_' + matrix]}"


def options(args: str) -> dict:
    """torch constructor options from an rnn's arguments ('hidden=3 bidirectional layers=2')."""
    words = dict(w.split("=") if "=" in w else (w, "true") for w in args.split())
    return dict(hidden=int(words["hidden"]), layers=int(words.get("layers", 1)),
                bidirectional="bidirectional" in words, bias=words.get("bias", "true") == "true")


# ---- shape rule and weights ----

@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("args", ["hidden=4", "hidden=3 bidirectional layers=2", "hidden=2 bias=false layers=3"])
def test_the_weights_are_torch_s_in_the_documented_layout(cell, args):
    net = specc.loads(f"input x: seq 5\nx -> rnn {cell} {args}\n", "w.nn")
    o = options(args)
    module = torch_module(cell, 5, **o)
    layer = net.model.layers[0]
    assert layer.out_shape == ("N", "T", o["hidden"] * (2 if o["bidirectional"] else 1))
    assert net.param_count == sum(p.numel() for p in module.parameters())
    shapes = {w.name: w.shape for w in layer.weights}
    for name, value in module.named_parameters():
        assert shapes[specc_name(name)][1:] == tuple(value.shape), name


def test_the_summary_spells_out_no_activation_for_a_gated_cell(tmp_path, capsys):
    from specc.cli import main

    path = tmp_path / "s.nn"
    path.write_text("input x: seq 3\nx -> rnn gru hidden=4 bidirectional -> rnn elman 2\n")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "rnn cell=gru hidden=4 bidirectional=true layers=1 bias=true init=xavier " in out
    assert "rnn cell=elman hidden=2 bidirectional=false layers=1 activation=tanh bias=true init=xavier " in out


# ---- NumPy against finite differences ----

@pytest.mark.parametrize("chain", [f"rnn {cell} {args}" for cell in CELLS for args in (
    "hidden=3", "hidden=3 bidirectional", "hidden=2 layers=2 bidirectional", "hidden=3 bias=false")])
def test_gradients_match_finite_differences(chain):
    check_gradients(chain, "seq 2")


@pytest.mark.parametrize("chain", [f"{ONEHOT} -> rnn {cell} 3 bidirectional layers=2 -> dense" for cell in CELLS]
                         + [f"{ONEHOT} -> dense 3 -> rnn {cell} 4 -> dense" for cell in CELLS])
def test_masked_cross_entropy_gradients_on_padded_sentences_match_finite_differences(chain):
    net = tagger(chain)
    objective, weights, x, y, mask, outputs, loss, grads = training_step(net, SENTENCES, seed=5)
    assert np.all(outputs[mask == 0] == 0)

    def masked_loss() -> float:
        return objective(run_layers(objective.layers, weights, x, mask=mask), y, mask)[0]

    errors = {name: max_relative_error(masked_loss, array, grads[name]) for name, array in weights.items()}
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("cell", CELLS)
def test_a_sentence_gives_the_same_outputs_and_gradients_alone_and_padded(cell):
    net = specc.loads(f"input words: seq token\nwords -> {ONEHOT} -> rnn {cell} 3 bidirectional layers=2\n", "p.nn",
                      seed=1)
    rng = np.random.default_rng(3)
    weights = {k: v + rng.normal(0, 0.1, v.shape) for k, v in net.weights.items()}
    layers = execution_order(net.model.layers)
    short = SENTENCES[1]
    alone = batch([short])
    r = rng.standard_normal(run_layers(layers, weights, alone).shape)
    y_alone, g_alone = outputs_and_grads(layers, weights, alone, r)
    padded = batch([SENTENCES[0], short, SENTENCES[2]])
    dy = np.zeros(run_layers(layers, weights, padded).shape)
    dy[1, :len(short)] = r[0]
    dy[1, len(short):] = 1.0  # on padding: must be ignored
    y_padded, g_padded = outputs_and_grads(layers, weights, padded, dy)
    np.testing.assert_allclose(y_padded[1, :len(short)], y_alone[0], rtol=0, atol=1e-12)
    assert np.all(y_padded[1, len(short):] == 0)
    for name in weights:
        np.testing.assert_allclose(g_padded[name], g_alone[name], rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_last_takes_each_sentence_s_last_word(cell):
    net = specc.loads(f"input words: seq token\noutput kind: a | b\nwords -> {ONEHOT} -> rnn {cell} 4 -> last "
                      "-> dense -> softmax -> kind\n", "last.nn", seed=2)
    short = SENTENCES[1]
    alone, padded = net.run({"words": batch([short])}), net.run({"words": batch([SENTENCES[0], short])})
    np.testing.assert_allclose(padded["kind"][1], alone["kind"][0], rtol=0, atol=1e-6)


# ---- NumPy against PyTorch autograd ----

@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("args", ["hidden=4", "hidden=3 bidirectional", "hidden=3 layers=2",
                                  "hidden=3 bidirectional layers=3", "hidden=4 bidirectional bias=false"])
def test_forward_and_gradients_match_torch(cell, args):
    torch = pytest.importorskip("torch")
    from torch.func import functional_call
    from tests.test_torch_oracle import assert_close

    net = specc.loads(f"input x: seq 3\nx -> rnn {cell} {args}\n", "t.nn", seed=3)
    rng = np.random.default_rng(4)
    layer = net.model.layers[0]
    weights = {k: (v + rng.normal(0, 0.2, v.shape)).astype(np.float32) for k, v in net.weights.items()}
    x = rng.standard_normal((3, 6, 3)).astype(np.float32)
    caches: list = []
    y = run_layers(net.model.layers, weights, x, caches)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, grads = backward_layers(net.model.layers, weights, caches, dy)

    leaves = {w.name: torch.tensor(weights[layer.weight_name(w.name)], requires_grad=True) for w in layer.weights}
    x_torch = torch.tensor(x, requires_grad=True)
    module = torch_module(cell, 3, **options(args))
    y_torch = functional_call(module, torch_params(module, leaves), (x_torch,))[0]
    (y_torch * torch.from_numpy(dy)).sum().backward()
    np.testing.assert_allclose(y, y_torch.detach().numpy(), rtol=0, atol=1e-5)
    assert_close(dx, x_torch.grad, "input")
    for name, leaf in leaves.items():
        assert_close(grads[layer.weight_name(name)], leaf.grad, name)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("args", ["hidden=4 bidirectional", "hidden=3 bidirectional layers=2"])
def test_padded_sentences_match_torch_packed_sequences(cell, args):
    torch = pytest.importorskip("torch")
    from torch.func import functional_call
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    from tests.test_torch_oracle import assert_close

    net = specc.loads(f"input words: seq token\nwords -> {ONEHOT} -> rnn {cell} {args}\n", "packed.nn", seed=4)
    rng = np.random.default_rng(8)
    weights = {k: (v + rng.normal(0, 0.2, v.shape)).astype(np.float32) for k, v in net.weights.items()}
    x = batch(SENTENCES)
    layers = execution_order(net.model.layers)
    dy = rng.standard_normal(run_layers(layers, weights, x).shape).astype(np.float32)
    y, grads = outputs_and_grads(layers, weights, x, dy)
    rnn = net.model.layers[1]
    leaves = {w.name: torch.tensor(weights[rnn.weight_name(w.name)], requires_grad=True) for w in rnn.weights}

    module = torch_module(cell, len(VOCAB) + 1, **options(args))
    lengths = torch.tensor([len(s) for s in SENTENCES])
    packed = pack_padded_sequence(torch.from_numpy(one_hot(x, VOCAB)), lengths, batch_first=True,
                                  enforce_sorted=False)
    y_torch, _ = pad_packed_sequence(functional_call(module, torch_params(module, leaves), (packed,))[0],
                                     batch_first=True, total_length=x.shape[1])
    (y_torch * torch.from_numpy(dy)).sum().backward()
    np.testing.assert_allclose(y, y_torch.detach().numpy(), rtol=0, atol=1e-5)
    for name, leaf in leaves.items():
        assert_close(grads[rnn.weight_name(name)], leaf.grad, name)


# ---- the export ----

@pytest.mark.parametrize("chain", [f"rnn {cell} {args}" for cell in CELLS for args in (
    "hidden=4", "hidden=3 bidirectional layers=2", "hidden=2 bias=false bidirectional")])
def test_the_export_equals_the_interpreter(chain):
    check_layer(chain, "seq 3")


@pytest.mark.parametrize("cell, states", [("lstm", 2), ("gru", 1)])
def test_the_export_is_one_scan_per_stacked_layer(cell, states):
    """h (and an LSTM's c) per direction carried by each Scan; no LSTM or GRU op."""
    proto = specc.loads(f"input x: seq 3\nx -> rnn {cell} hidden=4 bidirectional layers=2\n", "s.nn").to_onnx()
    scans = [n for n in proto.graph.node if n.op_type == "Scan"]
    assert len(scans) == 2
    assert all(len(n.input) == 2 * states + 2 for n in scans)  # the states, then each direction's projection
    assert not {"LSTM", "GRU"} & {n.op_type for n in proto.graph.node}


@pytest.mark.parametrize("runtime", ["openvino", "tract"])
@pytest.mark.parametrize("cell", CELLS)
def test_the_export_runs_in_other_runtimes(runtime, cell, tmp_path, monkeypatch):
    """A bidirectional, stacked gated layer among numeric layers, run as the portable tests run
    theirs (tests/test_lowering_portable.py): two batch sizes and lengths, within 1e-5."""
    from tests import test_lowering_portable as portable

    name = f"{cell}_bidirectional_2_layers"
    monkeypatch.setitem(portable.NUMERIC, name, f"input x: seq 3\nx -> window 3 -> rnn {cell} hidden=4 "
                                                "bidirectional layers=2 -> dense 2")
    portable.test_numeric_models_run_in_other_runtimes(runtime, name, tmp_path)


# ---- errors ----

@pytest.mark.parametrize("cell", CELLS)
def test_an_activation_is_refused_at_the_argument(cell):
    expect_error(spec("input x: seq 2", f"x -> rnn {cell} hidden=3 activation=relu"),
                 at=f"bad.nn:2:{20 + len(cell)}", message="takes no activation=", expected=f"rnn {cell} hidden=3",
                 hint=("sigmoid and tanh", f"nn.{cell.upper()}"))


def test_out_is_refused_as_jordan_only():
    expect_error(spec("input x: seq 2", "x -> rnn lstm hidden=3 out=2"), at="bad.nn:2:24",
                 message="takes out= only as a jordan cell", hint="rnn lstm outputs its hidden state")


def test_a_misspelt_cell_is_named():
    expect_error(spec("input x: seq 2", "x -> rnn gruu hidden=3"), at="bad.nn:2:10",
                 message="'cell' cannot be gruu", expected="elman or jordan or lstm or gru", hint="'gru'")


# ---- the specs ----

@pytest.mark.parametrize("name", ["slots_lstm", "slots_gru"])
def test_the_bidirectional_gated_taggers_learn_the_flights(name, tmp_path, capsys):
    """One epoch of specs/slots_lstm.nn or slots_gru.nn on the built-in flights, through the CLI:
    the exported model is verified, scored, and tags the lecture's sentences (memory decides
    Beijing's slot, from the word before it)."""
    from specc.cli import main
    from specc.specs import spec_path

    assert main(["train", str(spec_path(name)), "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 0
    model = specc.load_onnx(tmp_path / f"{name}.onnx")
    tags = model.run(words=["arrive Beijing on November 2nd", "leave Beijing on November 2nd"])["slots_class"]
    assert list(tags[0]) == ["other", "dest", "other", "time", "time"]
    assert list(tags[1]) == ["other", "depart", "other", "time", "time"]
