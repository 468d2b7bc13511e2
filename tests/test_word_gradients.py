"""Gradients of networks that read sentences: onehot / wordhash -> SparseRows -> dense / window /
rnn, on batches of sentences of different lengths (padded with "" at their ends).

- central finite differences (float64) of the masked cross-entropy, run exactly as
  specc.runtime.train.fit runs a batch (the Objective's layers, padding_mask, run_layers and
  backward_layers with mask=), for every entry of every weight;
- padding invariance: a sentence gives the same outputs and weight gradients alone as padded in
  a batch beside longer ones (both directions of bidirectional Elman and Jordan layers);
- PyTorch: a bidirectional Elman against torch.nn.RNN on packed sequences, and Jordan layers
  against a hand-written torch loop run on each sentence alone, at its own length;
- SparseRows against the one-hot matrices it stands for.
"""
from __future__ import annotations

import numpy as np
import pytest

import specc
from specc.runtime.interpreter import (backward_layers, execution_order, kernel_for, layer_weights, padding_mask,
                                 run_layers)
from specc.runtime.kernels.sparse import SparseRows
from specc.runtime.train import objective_for
from tests.test_gradients import TOLERANCE, numeric_gradient

VOCAB = ("the", "cat", "sat", "on", "mat", "hat")  # "hat" never occurs below: its rows get no gradient
TAGS = ("a", "b", "c")
# different lengths; "a", "dog", "zebra" and "The" (no lowercase) are outside VOCAB (the "other" dimension)
SENTENCES = [["the", "cat", "sat", "on", "the", "mat"], ["a", "cat", "sat"], ["dog"], ["The", "mat", "on", "zebra"]]
TRIGRAMS = ("#ap", "app", "ppl", "ple", "le#", "#ca", "cat", "at#", "zzz")  # "zzz" occurs in no word
# "appapp" holds app twice; "papa" and "pie" hold no trigram of TRIGRAMS (all ids -1: a zero vector);
# "Apple" keeps its case: #Ap and App are not trigrams of apple
HASHED = [["apple", "cat", "appapp"], ["papa", "Apple"], ["cat", "cat", "app", "pie", "apple"], ["pie"]]


def batch(sentences) -> np.ndarray:
    """(N, T) object array of words, shorter sentences padded with "" at their ends."""
    steps = max(len(s) for s in sentences)
    return np.array([list(s) + [""] * (steps - len(s)) for s in sentences], dtype=object)


def quoted(words) -> str:
    return "[" + ", ".join(f'"{w}"' for w in words) + "]"


ONEHOT = f"onehot vocab={quoted(VOCAB)}"
WORDHASH = f"wordhash vocab={quoted(TRIGRAMS)}"


def cases(*pairs):
    """pytest params (chain, sentences), named without the long vocabularies."""
    return [pytest.param(chain, sentences, id=chain.replace(ONEHOT, "onehot").replace(WORDHASH, "wordhash"))
            for chain, sentences in pairs]


def tagger(chain: str, seed: int = 0) -> specc.Network:
    """`words -> CHAIN -> softmax -> tags`, three named classes: no data set is read."""
    return specc.loads(f"input words: seq token\noutput tags: {' | '.join(TAGS)}\n"
                       f"words -> {chain} -> softmax -> tags\n", "words.nn", seed=seed)


def noisy(net: specc.Network, rng, dtype=np.float64) -> dict[str, np.ndarray]:
    """The network's weights in `dtype`, with noise (biases start at zero)."""
    return {k: (v + rng.normal(0, 0.1, v.shape)).astype(dtype) for k, v in net.weights.items()}


def reads_words(net: specc.Network) -> str:
    """The global name of the input weight (input axis last) of the layer after onehot/wordhash."""
    layer = net.model.layers[1]
    return layer.weight_name("weight" if layer.kind == "dense" else "layer1.W")


# ---------------------------------------------------------------------------------------------
# 1. finite differences of the masked cross-entropy, as fit() computes it


def max_relative_error(f, array: np.ndarray, analytic: np.ndarray) -> float:
    """Over every entry: |numeric - analytic| / max(|numeric|, |analytic|, 1e-3)."""
    worst = 0.0
    for index in np.ndindex(array.shape):
        expected = numeric_gradient(f, array, index)
        worst = max(worst, abs(expected - analytic[index]) / max(abs(expected), abs(analytic[index]), 1e-3))
    return worst


def training_step(net: specc.Network, sentences, seed: int, y_on_padding=None):
    """One batch as fit() runs it, in float64 without the optimizer step: (objective, weights,
    words, targets, mask, outputs, loss, weight gradients). y_on_padding: the targets on padded
    steps (default: random)."""
    rng = np.random.default_rng(seed)
    weights = noisy(net, rng)
    objective = objective_for(net.model.chains[0], "cross_entropy")
    x = batch(sentences)
    mask = padding_mask(x)
    y = rng.integers(0, len(TAGS), x.shape)
    if y_on_padding is not None:
        y[mask == 0] = y_on_padding
    caches: list = []
    outputs = run_layers(objective.layers, weights, x, caches, mask=mask)
    loss, grad, _ = objective(outputs, y, mask)
    dx, grads = backward_layers(objective.layers, weights, caches, grad, need_input_grad=False, mask=mask)
    assert dx is None  # the input was words
    return objective, weights, x, y, mask, outputs, loss, grads


@pytest.mark.parametrize("chain, sentences", cases(
    (f"{ONEHOT} -> rnn elman 4 -> dense", SENTENCES),
    (f"{ONEHOT} -> dense 3 -> rnn elman 4 bidirectional layers=2 -> dense", SENTENCES),
    (f"{ONEHOT} -> dense 3 -> window 3 -> rnn jordan 4 bidirectional -> dense", SENTENCES),
    (f"{ONEHOT} -> rnn jordan 3 out=2 bidirectional layers=2 activation=sigmoid -> dense", SENTENCES),
    (f"{WORDHASH} -> rnn elman 3 bidirectional -> dense", HASHED),
    (f"{WORDHASH} -> dense 3 bias=false -> window 3 -> rnn jordan 3 -> dense", HASHED),
))
def test_masked_cross_entropy_gradients_match_finite_differences(chain, sentences):
    net = tagger(chain)
    objective, weights, x, y, mask, outputs, loss, grads = training_step(net, sentences, seed=5)
    assert objective.layers[-1].kind == "dense"  # the softmax is left to the loss
    assert 0 < mask.sum() < mask.size
    assert outputs.dtype == np.float64 and np.all(outputs[mask == 0] == 0)
    assert set(grads) == set(weights)
    words = outputs[mask == 1]  # the loss is the mean over the words only
    log_p = words - words.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    assert loss == pytest.approx(-log_p[np.arange(len(words)), y[mask == 1]].mean(), rel=1e-12)

    def masked_loss() -> float:
        return objective(run_layers(objective.layers, weights, x, mask=mask), y, mask)[0]

    assert masked_loss() == loss
    errors = {name: max_relative_error(masked_loss, array, grads[name]) for name, array in weights.items()}
    assert max(errors.values()) < TOLERANCE, errors

    # rows of the first matrix: the "other" word (onehot) gets a gradient, unused entries none
    name = reads_words(net)
    unused = [VOCAB.index("hat")] if net.model.layers[0].kind == "onehot" else [TRIGRAMS.index("zzz")]
    assert np.all(grads[name][..., unused] == 0)
    if net.model.layers[0].kind == "onehot":
        assert np.abs(grads[name][..., len(VOCAB)]).max() > 1e-6


def test_targets_on_padding_change_nothing():
    net = tagger(f"{ONEHOT} -> dense 3 -> window 3 -> rnn elman 4 bidirectional -> dense")
    (*_, loss_0, grads_0), (*_, loss_2, grads_2) = [training_step(net, SENTENCES, seed=2, y_on_padding=tag)
                                                     for tag in (0, 2)]
    assert loss_0 == loss_2
    for name, grad in grads_0.items():
        np.testing.assert_array_equal(grad, grads_2[name])


# ---------------------------------------------------------------------------------------------
# 2. padding invariance


def outputs_and_grads(layers, weights, x, dy, mask=None):
    """Outputs of `layers` on x (masked as for sentences, or by `mask`) and the weights'
    gradients from dy."""
    mask = padding_mask(x) if mask is None else mask
    caches: list = []
    y = run_layers(layers, weights, x, caches, mask=mask)
    return y, backward_layers(layers, weights, caches, dy, need_input_grad=False, mask=mask)[1]


@pytest.mark.parametrize("chain, sentences", cases(
    (f"{ONEHOT} -> rnn elman 4 bidirectional -> dense 3", SENTENCES),
    (f"{ONEHOT} -> dense 3 -> window 3 -> rnn elman 4 bidirectional layers=2 -> dense 2", SENTENCES),
    (f"{ONEHOT} -> dense 3 -> window 3 -> rnn jordan 4 bidirectional -> dense 3", SENTENCES),
    (f"{ONEHOT} -> rnn jordan 4 out=2 bidirectional layers=2", SENTENCES),
    (f"{WORDHASH} -> rnn elman 3 bidirectional -> dense 2", HASHED),
    (f"{WORDHASH} -> dense 3 -> rnn jordan 3 bidirectional", HASHED),
))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_sentence_gives_the_same_outputs_and_gradients_alone_and_padded(chain, sentences, dtype):
    net = specc.loads(f"input words: seq token\nwords -> {chain}\n", "pad.nn", seed=1)
    rng = np.random.default_rng(3)
    weights = noisy(net, rng, dtype)
    layers = execution_order(net.model.layers)
    short = sorted(sentences, key=len)[len(sentences) // 2]
    others = [s for s in sentences if s is not short]
    assert max(map(len, others)) > len(short)
    size = len(short)
    alone = batch([short])
    r = rng.standard_normal(run_layers(layers, weights, alone).shape).astype(dtype)
    y_alone, g_alone = outputs_and_grads(layers, weights, alone, r)

    # in the middle of a batch, beside longer and shorter sentences; dy is noise on its padding
    # (which must be ignored) and zero for the other sentences
    padded = batch(others[:1] + [short] + others[1:])
    dy = np.zeros(run_layers(layers, weights, padded).shape, dtype=dtype)
    dy[1, :size] = r[0]
    dy[1, size:] = rng.standard_normal(dy[1, size:].shape)
    y_padded, g_padded = outputs_and_grads(layers, weights, padded, dy)

    tolerance = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=0, atol=1e-12)
    np.testing.assert_allclose(y_padded[1, :size], y_alone[0], **tolerance)
    assert np.all(y_padded[1, size:] == 0)
    assert set(g_padded) == set(g_alone) == set(weights)
    for name in weights:
        np.testing.assert_allclose(g_padded[name], g_alone[name], err_msg=name, **tolerance)


SENTENCE_CLASSIFIER = f"input words: seq token\noutput kind: a | b\nwords -> {ONEHOT} -> rnn elman 4 -> last -> dense"


def test_last_takes_each_sentence_s_last_word():
    net = specc.loads(SENTENCE_CLASSIFIER + " -> softmax -> kind\n", "last.nn", seed=1)
    layers = execution_order(net.model.layers)
    weights = noisy(net, np.random.default_rng(6))
    short, longer = SENTENCES[1], SENTENCES[0]
    alone, padded = batch([short]), batch([longer, short])
    y_alone = run_layers(layers, weights, alone, mask=padding_mask(alone))
    y_padded = run_layers(layers, weights, padded, mask=padding_mask(padded))
    np.testing.assert_allclose(y_padded[1], y_alone[0], rtol=0, atol=1e-12)


def test_a_sentence_classifier_on_words_runs_and_exports(tmp_path):
    net = specc.loads(SENTENCE_CLASSIFIER + " -> softmax -> kind\n", "last.nn", seed=1)
    outputs = net.run({"words": batch(SENTENCES)})
    assert outputs["kind_class"].shape == (len(SENTENCES),)
    report = net.export(tmp_path / "last.onnx")  # verified on sentences of different lengths
    assert report.ok
    exported = specc.load_onnx(report.path).run(words=batch(SENTENCES))
    np.testing.assert_allclose(exported["kind"], outputs["kind"], atol=1e-6)
    np.testing.assert_array_equal(exported["kind_class"], outputs["kind_class"])


# ---------------------------------------------------------------------------------------------
# 3. PyTorch


def one_hot(words: np.ndarray, vocab) -> np.ndarray:
    """float32 (N, T, V + 1), written out independently of specc: unknown words in the last
    dimension, padding the zero vector."""
    out = np.zeros(words.shape + (len(vocab) + 1,), dtype=np.float32)
    for index, word in np.ndenumerate(words):
        if word != "":
            out[index + (vocab.index(word) if word in vocab else len(vocab),)] = 1
    return out


def word_network(chain: str, rng):
    """`words -> onehot -> CHAIN` in float32 (biases with noise): its rnn layer, the words, the
    interpreter's outputs and weight gradients on SENTENCES from a random dy (noise on padding),
    and the rnn's weights as torch leaves by local name."""
    import torch

    net = specc.loads(f"input words: seq token\nwords -> {ONEHOT} -> {chain}\n", "torch.nn", seed=4)
    weights = {k: v + rng.normal(0, 0.1, v.shape).astype(np.float32) if k.endswith((".b", ".c")) else v
               for k, v in net.weights.items()}
    x = batch(SENTENCES)
    layers = execution_order(net.model.layers)
    dy = rng.standard_normal(run_layers(layers, weights, x).shape).astype(np.float32)
    y, grads = outputs_and_grads(layers, weights, x, dy)
    assert np.all(y[padding_mask(x) == 0] == 0)
    rnn = net.model.layers[1]
    leaves = {w.name: torch.tensor(weights[rnn.weight_name(w.name)], requires_grad=True) for w in rnn.weights}
    return rnn, x, y, dy, grads, leaves


def check_against_torch(rnn, y, grads, y_torch, leaves):
    from tests.test_torch_oracle import assert_close

    assert_close(y, y_torch, "output")
    assert set(grads) == {rnn.weight_name(name) for name in leaves}
    for name, leaf in leaves.items():
        assert_close(grads[rnn.weight_name(name)], leaf.grad, name)


@pytest.mark.parametrize("options", ["hidden=4 bidirectional", "hidden=3 bidirectional layers=2 activation=relu",
                                     "hidden=3 bidirectional bias=false"])
def test_bidirectional_elman_on_words_matches_torch_packed_sequences(options):
    torch = pytest.importorskip("torch")
    from torch.func import functional_call
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    rng = np.random.default_rng(8)
    rnn, x, y, dy, grads, leaves = word_network(f"rnn elman {options}", rng)
    a = rnn.attrs
    module = torch.nn.RNN(len(VOCAB) + 1, a.hidden, num_layers=a.layers, nonlinearity=a.activation,
                          bias=a.bias, batch_first=True, bidirectional=True)
    params = {}
    for k in range(a.layers):
        for d, suffix in enumerate((f"_l{k}", f"_l{k}_reverse")):
            params["weight_ih" + suffix] = leaves[f"layer{k + 1}.W"][d]
            params["weight_hh" + suffix] = leaves[f"layer{k + 1}.R"][d]
            if a.bias:
                params["bias_ih" + suffix] = leaves[f"layer{k + 1}.b"][d]
                params["bias_hh" + suffix] = torch.zeros(a.hidden)
    assert set(params) == {name for name, _ in module.named_parameters()}
    lengths = torch.tensor([len(s) for s in SENTENCES])
    packed = pack_padded_sequence(torch.from_numpy(one_hot(x, VOCAB)), lengths, batch_first=True,
                                  enforce_sorted=False)
    y_torch, _ = pad_packed_sequence(functional_call(module, params, (packed,))[0], batch_first=True,
                                     total_length=x.shape[1])
    mask = torch.from_numpy(padding_mask(x))[..., None]
    (y_torch * torch.from_numpy(dy) * mask).sum().backward()
    check_against_torch(rnn, y, grads, y_torch, leaves)


@pytest.mark.parametrize("options", ["hidden=4 out=3", "hidden=4 out=3 bidirectional",
                                     "hidden=3 bidirectional layers=2 activation=sigmoid bias=false"])
def test_jordan_on_words_matches_a_torch_loop_over_each_sentence_alone(options):
    """The torch loop (tests/test_torch_oracle.torch_jordan: y_0 = 0, the backward direction from
    the last step) runs on each sentence cut to its own length: no padding at all, so the
    backward direction starts at the sentence's last word."""
    torch = pytest.importorskip("torch")
    from tests.test_torch_oracle import torch_jordan

    rng = np.random.default_rng(9)
    rnn, x, y, dy, grads, leaves = word_network(f"rnn jordan {options}", rng)
    a = rnn.attrs
    vectors = torch.from_numpy(one_hot(x, VOCAB))
    y_torch = torch.zeros(y.shape)
    for i, sentence in enumerate(SENTENCES):
        y_torch[i, :len(sentence)] = torch_jordan(vectors[i:i + 1, :len(sentence)], leaves, layers=a.layers,
                                                  bidirectional=a.directions == 2, activation=a.activation,
                                                  bias=a.bias)[0]
    (y_torch * torch.from_numpy(dy)).sum().backward()
    check_against_torch(rnn, y, grads, y_torch, leaves)


# ---------------------------------------------------------------------------------------------
# 4. SparseRows


def sparse_cases():
    # K=1: onehot's ids, -1 on padding; K=3: wordhash's, repeated ids, -1 filling and all -1
    yield np.array([[[2], [0], [-1]], [[4], [2], [2]]])
    yield np.array([[[1, 1, -1], [3, 0, 4], [-1, -1, -1]], [[2, -1, -1], [4, 4, 4], [0, 3, 3]]])


@pytest.mark.parametrize("ids", list(sparse_cases()), ids=["K=1", "K=3"])
def test_sparse_rows_agree_with_the_one_hot_matrices(ids, rng):
    width, hidden = 5, 3
    rows = SparseRows(ids, width)
    expected = np.zeros(ids.shape[:-1] + (width,), dtype=np.float32)
    for index in np.ndindex(ids.shape):
        if ids[index] >= 0:
            expected[index[:-1] + (ids[index],)] += 1
    dense = rows.dense()
    assert rows.shape == dense.shape == expected.shape and dense.dtype == np.float32
    np.testing.assert_array_equal(dense, expected)
    weight = rng.standard_normal((hidden, width))  # as dense and rnn store it: (outputs, inputs)
    np.testing.assert_allclose(rows.project(weight), expected @ weight.T, rtol=0, atol=1e-12)
    d_out = rng.standard_normal(ids.shape[:-1] + (hidden,))
    np.testing.assert_allclose(rows.project_grad(d_out),
                               d_out.reshape(-1, hidden).T @ expected.reshape(-1, width), rtol=0, atol=1e-12)
    swapped = rows.swap_batch_and_time()
    np.testing.assert_array_equal(swapped.dense(), expected.swapaxes(0, 1))


def trigram_vectors(words: np.ndarray) -> np.ndarray:
    """How often each of TRIGRAMS occurs in `#word#`, counted here by hand; padding: zeros."""
    out = np.zeros(words.shape + (len(TRIGRAMS),), dtype=np.float32)
    for index, word in np.ndenumerate(words):
        wrapped = f"#{word}#" if word else ""
        for start in range(len(wrapped) - 2):
            if wrapped[start:start + 3] in TRIGRAMS:
                out[index + (TRIGRAMS.index(wrapped[start:start + 3]),)] += 1
    return out


@pytest.mark.parametrize("layer, sentences, expected", [
    (ONEHOT, SENTENCES, lambda words: one_hot(words, VOCAB)), (WORDHASH, HASHED, trigram_vectors),
], ids=["onehot", "wordhash"])
def test_word_layers_give_the_sparse_rows_of_their_vectors(layer, sentences, expected):
    """The kernel keeps the vectors as rows of ids; a chain that ends there gives them written out."""
    net = specc.loads(f"input words: seq token\nwords -> {layer}\n", "ids.nn")
    x = batch(sentences)
    word_layer = net.model.layers[0]
    rows = kernel_for(word_layer).forward(word_layer, layer_weights(word_layer, net.weights), x, {})
    assert isinstance(rows, SparseRows) and rows.shape == x.shape + (word_layer.out_shape[-1],)
    np.testing.assert_array_equal(rows.dense(), expected(x))
    assert np.all(rows.ids[x == ""] == -1)  # padding: no id at all, not "other"
    np.testing.assert_array_equal(run_layers(net.model.layers, net.weights, x, mask=padding_mask(x)), expected(x))


@pytest.mark.parametrize("ids", list(sparse_cases()), ids=["K=1", "K=3"])
@pytest.mark.parametrize("chain", ["dense 3", "dense 2 bias=false", "window 3 -> dense 2",
                                   "rnn elman 3 bidirectional", "rnn jordan 3 out=2 bidirectional layers=2"])
def test_layers_read_sparse_rows_as_the_vectors_they_stand_for(ids, chain, rng):
    """dense and rnn look rows up (window gets the vectors written out): the same outputs and
    weight gradients as from the dense one-hot input, also with a padding mask."""
    width = 5
    net = specc.loads(f"input x: seq {width}\nx -> {chain}\n", "sparse.nn", seed=2)
    weights = noisy(net, rng)
    layers = execution_order(net.model.layers)
    rows = SparseRows(ids, width)
    mask = np.array([[1, 1, 0], [1, 1, 1]], dtype=np.float32)
    dy = rng.standard_normal(run_layers(layers, weights, rows.dense(), mask=mask).shape)
    (y_sparse, g_sparse), (y_dense, g_dense) = [outputs_and_grads(layers, weights, x, dy, mask)
                                                for x in (rows, rows.dense())]
    np.testing.assert_allclose(y_sparse, y_dense, rtol=0, atol=1e-12)
    assert set(g_sparse) == set(g_dense) == set(weights)
    for name in weights:
        np.testing.assert_allclose(g_sparse[name], g_dense[name], rtol=0, atol=1e-12, err_msg=name)
