"""crf: a linear-chain CRF output layer. Viterbi and the sentence likelihood checked against
enumerating every tag sequence, the likelihood's gradients against finite differences and
PyTorch autograd (the forward algorithm written in torch), the export against the NumPy
interpreter in onnxruntime, ONNX's reference evaluator, OpenVINO and tract, and training on a
task only tag transitions can solve; misuse reported at the layer."""
from __future__ import annotations

import itertools

import numpy as np
import onnx
import pytest

import specc
from specc.cli import main
from specc.runtime.kernels.crf import negative_log_likelihood, viterbi

from . import other_runtimes
from .helpers import run_reference

TAGGER = """input words: seq token
output slots: A | B | C
words -> onehot vocab=[a, b, c, d] -> dense -> crf -> slots
"""


def random_crf(rng, n=4, steps=5, k=3, scale=1.5):
    u = rng.standard_normal((n, steps, k)) * scale
    transitions, start, end = (rng.standard_normal(shape) * scale for shape in ((k, k), (k,), (k,)))
    return u, transitions, start, end


def sequence_score(u, transitions, start, end, tags):
    """s(y) of one sentence, written out from the definition."""
    score = start[tags[0]] + end[tags[-1]] + sum(u[t, y] for t, y in enumerate(tags))
    return score + sum(transitions[a, b] for a, b in zip(tags, tags[1:]))


def every_sequence(k, length):
    return [list(tags) for tags in itertools.product(range(k), repeat=length)]


def test_viterbi_is_the_best_of_every_tag_sequence_for_each_sentence_length():
    rng = np.random.default_rng(0)
    u, transitions, start, end = random_crf(rng, n=6, steps=5)
    lengths = np.array([5, 4, 3, 2, 1, 5])
    path = viterbi(u, transitions, start, end, lengths)
    for i, length in enumerate(lengths):
        scores = {tuple(y): sequence_score(u[i, :length], transitions, start, end, y)
                  for y in every_sequence(3, length)}
        assert tuple(path[i, :length]) == max(scores, key=scores.get)
        assert (path[i, length:] == path[i, length - 1]).all()  # padding repeats the last tag


def test_negative_log_likelihood_is_log_z_minus_the_true_sequence_s_score():
    rng = np.random.default_rng(1)
    u, transitions, start, end = random_crf(rng, n=5, steps=4)
    lengths = np.array([4, 3, 1, 2, 4])
    tags = rng.integers(0, 3, (5, 4))
    losses, _, _ = negative_log_likelihood(u, transitions, start, end, tags, lengths)
    for i, length in enumerate(lengths):
        log_z = np.logaddexp.reduce([sequence_score(u[i, :length], transitions, start, end, y)
                                     for y in every_sequence(3, length)])
        expected = log_z - sequence_score(u[i, :length], transitions, start, end, tags[i, :length])
        assert losses[i] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_likelihood_survives_scores_far_beyond_exp_s_range():
    """Large scores and transitions (exp(800) overflows float64): the scaled recursions stay finite."""
    rng = np.random.default_rng(2)
    u, transitions, start, end = random_crf(rng, n=2, steps=3, scale=400.0)
    tags = rng.integers(0, 3, (2, 3))
    losses, du, grads = negative_log_likelihood(u, transitions, start, end, tags, np.array([3, 2]))
    assert np.isfinite(losses).all() and np.isfinite(du).all() and all(np.isfinite(g).all() for g in grads.values())
    assert (losses >= -1e-9).all()


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    u, transitions, start, end = random_crf(rng, n=3, steps=4)
    tags, lengths = rng.integers(0, 3, (3, 4)), np.array([4, 2, 1])
    _, du, grads = negative_log_likelihood(u, transitions, start, end, tags, lengths)
    values = {"u": u, "transitions": transitions, "start": start, "end": end}
    analytic = {"u": du, **grads}
    for name, value in values.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            saved = value[index]
            value[index] = saved + 1e-6
            up = negative_log_likelihood(*values.values(), tags, lengths)[0].sum()
            value[index] = saved - 1e-6
            down = negative_log_likelihood(*values.values(), tags, lengths)[0].sum()
            value[index] = saved
            numeric[index] = (up - down) / 2e-6
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-6, atol=1e-7, err_msg=name)
    assert (du[1, 2:] == 0).all() and (du[2, 1:] == 0).all()  # padding gets no gradient


def test_loss_and_gradients_match_pytorch_autograd():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    u, transitions, start, end = random_crf(rng, n=4, steps=6, k=5)
    tags, lengths = rng.integers(0, 5, (4, 6)), np.array([6, 5, 2, 1])
    losses, du, grads = negative_log_likelihood(u, transitions, start, end, tags, lengths)
    tu, tt, ts, te = (torch.tensor(v, requires_grad=True) for v in (u, transitions, start, end))
    total = 0
    for i, length in enumerate(lengths):  # the forward algorithm in log space, one sentence at a time
        y = torch.tensor(tags[i, :length])
        alpha = ts + tu[i, 0]
        gold = ts[y[0]] + tu[i, 0, y[0]]
        for t in range(1, length):
            alpha = torch.logsumexp(alpha[:, None] + tt, dim=0) + tu[i, t]
            gold = gold + tt[y[t - 1], y[t]] + tu[i, t, y[t]]
        total = total + torch.logsumexp(alpha + te, dim=0) - (gold + te[y[-1]])
    total.backward()
    assert losses.sum() == pytest.approx(total.item(), rel=1e-12)
    for mine, theirs in ((du, tu), (grads["transitions"], tt), (grads["start"], ts), (grads["end"], te)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


def trained_weights(net, rng):
    for value in net.weights.values():
        value[...] = rng.standard_normal(value.shape).astype(np.float32) * 2
    return net


WORDS = np.array([["a", "b", "c", "d", "a"], ["d", "a", "", "", ""], ["c", "", "", "", ""],
                  ["b", "b", "b", "", ""]], dtype=object)


@pytest.mark.parametrize("portable", [False, True])
def test_export_gives_the_interpreter_s_tags_in_onnxruntime_and_the_reference_evaluator(portable, tmp_path):
    net = trained_weights(specc.loads(TAGGER, "t.nn"), np.random.default_rng(5))
    expected = net.run(words=WORDS)
    path = tmp_path / "t.onnx"
    report = net.export(path, portable=portable)
    assert report.ok and report.max_abs_diff == 0.0
    got = specc.load_onnx(path).run(words=WORDS)
    np.testing.assert_array_equal(got["slots"], expected["slots"])
    np.testing.assert_array_equal(got["slots_class"], expected["slots_class"])
    assert set(np.unique(expected["slots"])) == {0.0, 1.0}
    np.testing.assert_array_equal(expected["slots"].sum(axis=-1), WORDS != "")  # one tag per word, none on padding
    if portable:
        from onnx.reference import ReferenceEvaluator

        proto = onnx.load(path)
        values = ReferenceEvaluator(proto).run(None, specc.load_onnx(path).feeds(words=WORDS))
        reference = dict(zip([o.name for o in proto.graph.output], values))
    else:
        reference = run_reference(net, {"words": WORDS})
    np.testing.assert_array_equal(reference["slots"], expected["slots"])


@pytest.mark.parametrize("runtime", ["openvino", "tract"])
def test_portable_export_runs_in_other_runtimes(runtime, tmp_path):
    net = trained_weights(specc.loads(TAGGER, "t.nn"), np.random.default_rng(6))
    path = tmp_path / "t.onnx"
    net.export(path, portable=True)
    model = specc.load_onnx(path)
    run = other_runtimes.load(runtime, str(path))
    for words in (WORDS, WORDS[:1], WORDS[2:3, :1]):
        got = model.named(run(model.feeds(words=words)))
        np.testing.assert_array_equal(got["slots_class"], net.run(words=words)["slots_class"])


def alternating_tags(path, sentences=60):
    """Sentences of one repeated word tagged A B A B ...: each word alone says nothing of its
    tag, the tag before it says everything."""
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(sentences):
        lines += [f"w\t{'AB'[t % 2]}" for t in range(rng.integers(1, 8))] + [""]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("head, accuracy", [("crf", 1.0), ("softmax", None)])
def test_crf_learns_what_only_the_tag_before_tells(head, accuracy, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    alternating_tags(tmp_path / "alternate.conll")
    spec = tmp_path / f"{head}.nn"
    spec.write_text(f"input words: seq token\noutput tags: from data\nwords -> onehot -> dense -> {head} -> tags\n"
                    'train\n  data "alternate.conll"\n  optimizer adam lr=0.1\n  epochs 20\n  batch 8\n')
    assert main(["train", str(spec), "--quiet", "--json", "--out", str(tmp_path / "run")]) == 0
    import json

    end = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert end["verified"]
    if accuracy is not None:  # the export's one-hot rows are the interpreter's exactly
        assert end["max_abs_diff"] == 0.0
        assert end["heldout_accuracy"] == accuracy and end["heldout_f1"] == 1.0
    else:  # every word scores alike: softmax can only guess the commoner tag
        assert end["heldout_accuracy"] < 0.75


@pytest.mark.parametrize("chain, output, message, hint", [
    ("onehot vocab=[a] -> dense 2 -> crf -> softmax", "output y: A | B",
     "crf must end a chain at a classifier output, but layers follow it",
     "write ... -> dense -> crf -> NAME, where output NAME has classes (output NAME: from data)"),
    ("onehot vocab=[a] -> dense 2 -> crf", "output y",
     "crf must end a chain at a classifier output, but this chain reaches output y, which has no classes",
     "write ... -> dense -> crf -> NAME, where output NAME has classes (output NAME: from data)"),
])
def test_a_crf_that_does_not_end_a_tagger_is_refused_at_the_layer(chain, output, message, hint, tmp_path, capsys):
    path = tmp_path / "bad.nn"
    path.write_text(f"input x: seq token\n{output}\nx -> {chain} -> y\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    column = chain.index("crf") + len("x -> ") + 1
    assert err[0] == f"{path}:3:{column}: error: {message}"
    assert err[2] == "      | " + " " * (column - 1) + "^^^"
    assert err[-1] == f"  hint: {hint}"


def test_crf_on_vectors_is_refused_with_where_it_goes(tmp_path, capsys):
    path = tmp_path / "bad.nn"
    path.write_text("input x: 4\noutput y: A | B | C\nx -> dense -> crf -> y\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{path}:3:15: error: crf needs a sequence (N, T, F): received (N, 3) from dense at line 3"
    assert err[-1] == "  hint: crf tags the words of sentences (N, T, K): put it after the last dense of a tagger"


def test_a_crf_trained_by_mse_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "mse.nn"
    alternating_tags(tmp_path / "a.conll", 10)
    path.write_text("input words: seq token\noutput tags: from data\nwords -> onehot -> dense -> crf -> tags\n"
                    'train\n  data "a.conll"\n  loss mse\n  epochs 1\n')
    assert main(["train", str(path), "--quiet", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "output tags ends with crf, which is trained on its tag sequences' likelihood, not by loss mse" in err
    assert "Traceback" not in err
