"""An exported rnn's input projections (specc/lowering/rnn.py, GraphBuilder.project and steps):
an LSTM's recurrent bias Rb joins b once, not every step's projection, and a bidirectional layer
on words reverses their ids, not the projection of every step; the export still matches NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import specc

WORDS = "model m\ninput words: seq token\noutput out: a | b\nwords -> onehot vocab=[fly, to, boston]{embed} -> {rnn} -> dense -> softmax -> out\n"
NUMBERS = "model m\ninput x: seq 5\noutput out: a | b\nx -> {rnn} -> dense -> softmax -> out\n"
LSTM = "rnn lstm hidden=4 bidirectional"


def nodes(text: str) -> dict:
    """name -> node of the seeded spec's exported graph."""
    return {n.name: n for n in specc.loads(text, seed=0).to_onnx().graph.node}


def readers(graph: dict, tensor: str) -> list[str]:
    """The op types of the nodes that read `tensor`."""
    return [n.op_type for n in graph.values() if tensor in n.input]


@pytest.mark.parametrize("embed", ["", " -> dense 6 bias=false"], ids=["onehot", "embedding"])
def test_words_reach_the_scan_through_one_table_per_direction_and_reversed_ids(embed):
    graph = nodes(WORDS.format(embed=embed, rnn=LSTM))
    forward, backward = graph["rnn@4.layer1.xw[0]"], graph["rnn@4.layer1.xw[1]"]
    assert forward.op_type == backward.op_type == "Gather"
    assert backward.input[1] == "rnn@4.layer1.reversed_ids"  # the ids are reversed, then looked up
    assert graph["rnn@4.layer1.reversed_ids"].input[0] == "rnn@4.ids_time_major"
    for xw in (forward, backward):  # the tables hold b + Rb: the Scan reads the lookup itself
        assert readers(graph, xw.output[0]) == ["Scan"]


def test_the_table_holds_both_biases():
    net = specc.loads(WORDS.format(embed="", rnn=LSTM), seed=0)
    rng = np.random.default_rng(0)
    net.weights.update({k: rng.normal(size=v.shape).astype(np.float32) for k, v in net.weights.items()})
    graph = {n.name: n for n in net.to_onnx().graph.node}
    table = graph["rnn@4.layer1.xw[1].table"].attribute[0].t
    w, b, rb = (net.weights[f"rnn@4.layer1.{name}"][1].astype(np.float64) for name in ("W", "b", "Rb"))
    expected = (w.T + b + rb).astype(np.float32)
    assert np.array_equal(np.frombuffer(table.raw_data, np.float32).reshape(expected.shape), expected)


def test_numbers_get_one_add_per_direction_of_b_plus_rb():
    graph = nodes(NUMBERS.format(rnn=LSTM))
    for d in (0, 1):
        add = graph[f"rnn@4.layer1.xw[{d}]+layer1.b+layer1.Rb"]
        assert add.input == [f"rnn@4.layer1.xw[{d}]", f"rnn@4.layer1.xw[{d}].bias+layer1.Rb"]
        assert graph[add.input[1]].input == [f"rnn@4.layer1.b[{d}]", f"rnn@4.layer1.Rb[{d}]"]


@pytest.mark.parametrize("portable", [False, True])
@pytest.mark.parametrize("rnn", [LSTM + " layers=2", "rnn gru hidden=4 bidirectional", "rnn elman hidden=4 bidirectional",
                                 "rnn jordan hidden=4 bidirectional", LSTM + " bias=false"])
def test_the_export_still_matches_numpy(rnn, portable):
    for text in (WORDS.format(embed="", rnn=rnn), WORDS.format(embed=" -> dense 6 bias=false", rnn=rnn),
                 NUMBERS.format(rnn=rnn)):
        report = specc.loads(text, seed=0).export(portable=portable)
        assert report.ok, (text, report.max_abs_diff)
