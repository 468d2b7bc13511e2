"""A seeded generator of .nn specs over the whole language, valid and broken, for fuzzing.

`random_spec(rng)` writes a spec the way a user might: declarations, a chain of layers that
usually fit the shape they receive (images, vectors, sequences, words with ASCII and non-ASCII
vocabularies, `lowercase`), now and then split into a graph (a named value read again by a
merge), arguments in every written form, comments, continuation lines and a train section. Half the specs are then damaged by `mutate`: tokens dropped, repeated or
swapped, numbers made huge, negative or fractional, odd characters and line breaks inserted.
The fuzz test (tests/test_fuzz.py) and bench/fuzz.py feed them to the CLI and require a clean
answer: success, or a located error with exit 2, never a crash or a hang.
"""
from __future__ import annotations

import random

# Words a user might put in a vocabulary: ASCII, other scripts, case pairs that lower-case
# differently between libraries (final sigma, dotted I, sharp s), combining marks and emoji.
WORDS = ("apple", "bag", "Cat", "DOG", "ΟΔΟΣ", "οδος", "İSTANBUL", "istanbul", "STRASSE", "Straße", "ẞ",
         "Ǆemal", "ǅ", "ﬁle", "Ꭰ", "ᏸ", "ⅷ", "Ⓐ", "Σίσυφος", "ДОМ", "дом", "Ωmega", "ǰ", "e\u0301t\u00e9",
         "東京", "😀", "Ⴀ", "ⴀ", "ÅNGSTRÖM", "IJssel", "Ιota", "ﬓ", "K", "Å", "ϴ", "ς", "city-name",
         "B-fromloc.city_name", "new", "york")
# Characters that break text in ways a parser and an error printer may disagree on.
ODD_TEXT = ("\u2028", "\u2029", "\x0c", "\x0b", "\x85", "\x1c", "\r", "\t", "\ufeff", "\x00", "é", "İ",
            "->", "[", "]", "=", ":", "|", ",", "#", '"', "x", "-", ".", "1e999", "-0", "0x1", "\u200b")
NUMBERS = ("0", "1", "2", "3", "-1", "0.5", "1e-3", "7", "99999999999", "100000", "2.5", "1e30", "-0.0")
INITS = ("xavier", "he", "normal", "ones", "zeros")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear")


def _maybe(rng: random.Random, p: float, text: str) -> str:
    return text if rng.random() < p else ""


def _number(rng: random.Random, low: int, high: int) -> str:
    """Usually a fitting whole number, sometimes an awkward one."""
    return str(rng.randint(low, high)) if rng.random() < 0.9 else rng.choice(NUMBERS)


def _literal(rng: random.Random, shape: tuple[int, ...]) -> str:
    """A nested list of numbers of `shape`, written over lines now and then."""
    if not shape:
        return rng.choice(("1", "-1", "0.5", "2", "-0.25", "0"))
    separator = ",\n    " if rng.random() < 0.2 else ", "
    return "[" + separator.join(_literal(rng, shape[1:]) for _ in range(shape[0])) + "]"


def _vocabulary(rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.randint(1, 8))
    return "[" + ", ".join(f'"{w}"' if not w.replace("_", "a").isalnum() or not w.isascii() else w
                           for w in words) + "]"


def _word_layer(rng: random.Random) -> str:
    kind = rng.choice(("onehot", "onehot", "wordhash"))
    parts = [kind]
    if rng.random() < 0.7:
        parts.append(f"vocab={_vocabulary(rng)}")
    if rng.random() < 0.5:
        parts.append("lowercase")
    if rng.random() < 0.2:
        parts.append(f"max={_number(rng, 1, 50)}")
    if rng.random() < 0.1:
        parts.append(f"min_count={_number(rng, 1, 3)}")
    return " ".join(parts)


def _conv(rng: random.Random, channels: int) -> str:
    k = rng.choice((1, 2, 3))
    filters = rng.randint(1, 3)
    parts = ["conv", f"{k}x{k}" if rng.random() < 0.5 else str(k)]
    if rng.random() < 0.3:
        parts.append(f"weights={_literal(rng, (filters, channels, k, k) if channels > 1 or rng.random() < 0.5 else (filters, k, k))}")
    else:
        parts.append(rng.choice((f"filters={filters}", str(filters), f"filters {filters}")))
    parts += [_maybe(rng, 0.3, f"stride={rng.choice((1, 2))}"), _maybe(rng, 0.4, "padding=" + rng.choice(("same", "valid", "1", "1x0"))),
              _maybe(rng, 0.2, "init=" + rng.choice(INITS)), _maybe(rng, 0.1, "bias=false")]
    return " ".join(p for p in parts if p)


def _dense(rng: random.Random, features: int, classes: int | None = None) -> str:
    """A dense layer; the last of a classifier's chain (`classes` given, 0 for classes from
    data) often leaves its size to the output's classes."""
    units = classes or rng.randint(1, 6)
    parts = ["dense"]
    if classes == 0:
        pass
    elif rng.random() < 0.15 and features <= 6:
        parts.append(f"weights={_literal(rng, (units, features))}")
    elif not (classes and rng.random() < 0.5):
        parts.append(rng.choice((str(units), f"units={units}", f"units {_number(rng, 1, 6)}")))
    parts += [_maybe(rng, 0.2, "bias=" + rng.choice(("false", "true"))), _maybe(rng, 0.2, "init=" + rng.choice(INITS))]
    return " ".join(p for p in parts if p)


def _rnn(rng: random.Random) -> str:
    parts = ["rnn", rng.choice(("elman", "jordan", "cell=elman", "", "lstm", "gru", "cell=gru")), f"hidden={_number(rng, 1, 5)}",
             _maybe(rng, 0.3, f"out={rng.randint(1, 4)}"), _maybe(rng, 0.4, "bidirectional"),
             _maybe(rng, 0.3, f"layers={_number(rng, 1, 3)}"), _maybe(rng, 0.3, "activation=" + rng.choice(ACTIVATIONS)),
             _maybe(rng, 0.1, "bias=false"), _maybe(rng, 0.1, "init=" + rng.choice(INITS))]
    return " ".join(p for p in parts if p)


def _batchnorm(rng: random.Random) -> str:
    return " ".join(p for p in ("batchnorm", _maybe(rng, 0.3, f"momentum={rng.choice(('0.1', '0.5', '1', '0'))}"),
                                 _maybe(rng, 0.3, f"eps={rng.choice(('1e-5', '0.001', '1'))}")) if p)


def _chain(rng: random.Random, form: str, classes: int | None) -> list[str]:
    """Layers that mostly fit: the shape's family is followed as the chain goes. `classes`:
    the output's class count, 0 for classes from data, None for a raw output."""
    layers = []
    if form == "tokens":
        layers.append(_word_layer(rng))
        if rng.random() < 0.5:
            layers.append(f"dense {rng.randint(2, 6)} bias=false")
        form = "seq"
    for _ in range(rng.randint(0, 5)):
        if form == "image":
            choice = rng.choice(("conv", "conv", "pool", "act", "flatten", "dropout", "globalpool", "batchnorm"))
            if choice == "conv":
                layers.append(_conv(rng, 1))
            elif choice == "pool":
                layers.append(f"{rng.choice(('maxpool', 'avgpool'))} {rng.choice((1, 2, 3))} "
                              + rng.choice(("", "floor", "ceil", "mode=exact", "stride=1")))
            elif choice in ("flatten", "globalpool"):
                layers.append(choice if choice == "flatten" else rng.choice(("globalpool", "globalpool max", "globalpool avg")))
                form = "vector"
            elif choice == "batchnorm":
                layers.append(_batchnorm(rng))
            else:
                layers.append(rng.choice(ACTIVATIONS) if choice == "act" else f"dropout {rng.choice(('0.5', '0.1', 'p=0.2'))}")
        elif form == "seq":
            choice = rng.choice(("rnn", "rnn", "window", "dense", "act", "last", "dropout", "batchnorm"))
            if choice == "rnn":
                layers.append(_rnn(rng))
            elif choice == "window":
                layers.append(f"window {rng.choice((1, 3, 5, 2, 99999))}")
            elif choice == "dense":
                layers.append(_dense(rng, 99))
            elif choice == "last":
                layers.append("last")
                form = "vector"
            elif choice == "batchnorm":
                layers.append(_batchnorm(rng))
            else:
                layers.append(rng.choice(ACTIVATIONS) if choice == "act" else "dropout 0.2")
        else:
            layers.append(rng.choice((_dense(rng, 3), rng.choice(ACTIVATIONS), "dropout 0.3", _batchnorm(rng))))
    if form == "image":
        layers.append("flatten")
    layers.append(_dense(rng, 3, classes))
    if rng.random() < (0.3 if classes is None else 0.8):
        layers.append("softmax")
    return layers


def _graph(rng: random.Random, layers: list[str], joint: str) -> list[str]:
    """The chain's layers as a small graph: the first part bound to a value h that the rest
    reads again through a merge after a few elementwise layers (so the shapes fit), now and
    then with a side value g, read by the merge or left unused (a warning)."""
    end = max(i for i, layer in enumerate(layers) if layer.startswith("dense"))  # the output's dense
    split = rng.randint(1, max(1, end))
    merge = rng.choice(("add", "multiply", "concat"))
    operands = ["h"] * rng.randint(1, 2)
    lines = ["h = x -> " + joint.join(layers[:split])]
    if rng.random() < 0.3:
        lines.append("g = h -> " + rng.choice(ACTIVATIONS))
        operands += ["g"] if rng.random() < 0.7 else []
    side = [rng.choice(ACTIVATIONS) for _ in range(rng.randint(0, 2))]
    lines.append("h -> " + joint.join(side + [f"{merge} {' '.join(operands)}"] + layers[split:]))
    return lines


def _train_section(rng: random.Random, words: bool) -> list[str]:
    # the first few values fit, the last one of each row is a mistake a user could make
    settings = {
        "data": ("flights", "flights", '"missing.npz"', "xo") if words else ("xo", "xo", '"missing.csv"', "flights"),
        "loss": ("cross_entropy", "mse", "hinge"),
        "optimizer": ("adam", "sgd lr=0.1", "sgd lr=0.05 momentum=0.9", "adam lr=0.002", "adam momentum=0.9"),
        "epochs": ("3", "1", "ten"),
        "batch": ("16", "1", "0"),
        "schedule": ("cosine", "step every=2 gamma=0.5", "constant", "linear"),
        "clip": ("5", "1e30", "0"),
        "seed": ("0", "7", "-1"),
        "validation": ("0.2", "0", "1"),
        "keep": ("best", "last", "worst"),
    }
    chosen = rng.sample(list(settings), rng.randint(1, 5))
    return ["train"] + [f"  {name} {rng.choice(settings[name][:-1] if rng.random() < 0.9 else settings[name])}"
                        for name in chosen]


def random_spec(rng: random.Random) -> str:
    """One spec's text: usually close to valid, every part of the language in reach."""
    form = rng.choice(("image", "vector", "seq", "tokens", "tokens"))
    declared = {"image": f"{rng.choice((1, 2))}x{rng.randint(2, 8)}x{rng.randint(2, 8)}"
                if rng.random() < 0.8 else f"{rng.randint(2, 8)}x{rng.randint(2, 8)}",
                "vector": _number(rng, 1, 6), "seq": f"seq {_number(rng, 1, 4)}", "tokens": "seq token"}[form]
    lines = [_maybe(rng, 0.3, "# a generated spec: " + rng.choice(WORDS))]
    if rng.random() < 0.5:
        lines.append(f"model {rng.choice(('fuzz', 'm1', 'net_2', 'a.b-c'))}")
    lines.append(f"input x: {declared}")
    classes = None
    if rng.random() < 0.6:
        names = rng.sample(("A", "B", "cat", "dog", "other", "dest", '"a b"', "1"), rng.randint(2, 4))
        classes = len(names)
        from_data = form == "tokens" and rng.random() < 0.3
        lines.append(f"output y: {'from data' if from_data else ' | '.join(names)}")
        classes = 0 if from_data else classes
    elif rng.random() < 0.5:
        lines.append("output y")
    layers = _chain(rng, form, classes)
    joint = rng.choice((" -> ", "\n  -> ", " ->\n   "))
    to_output = " -> y" if "output y" in lines[-1] and rng.random() < 0.3 else ""
    if rng.random() < 0.3:
        lines += _graph(rng, layers, joint)
        lines[-1] += to_output
    else:
        lines.append("x -> " + joint.join(layers) + to_output)
    if rng.random() < 0.5:
        lines += _train_section(rng, form == "tokens")
    return "\n".join(line for line in lines if line) + rng.choice(("\n", "", "\n\n", "\r\n"))


def mutate(rng: random.Random, text: str) -> str:
    """The text with one to three random injuries, at the level of tokens or characters."""
    for _ in range(rng.randint(1, 3)):
        tokens = text.split(" ")
        kind = rng.randrange(6)
        i = rng.randrange(len(tokens))
        if kind == 0 and len(tokens) > 1:
            del tokens[i]
        elif kind == 1:
            tokens.insert(i, tokens[rng.randrange(len(tokens))])
        elif kind == 2:
            j = rng.randrange(len(tokens))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif kind == 3:
            tokens[i] = rng.choice(NUMBERS)
        elif kind == 4:
            position = rng.randrange(len(text) + 1)
            text = text[:position] + rng.choice(ODD_TEXT) + text[position:]
            continue
        else:
            tokens.insert(i, rng.choice(WORDS + ("->", "conv", "dense", "rnn", "[", "]", "=")))
        text = " ".join(tokens)
    return text


def fuzz_specs(seed: int, count: int):
    """`count` spec texts from a generator seeded by `seed`; about half of them damaged."""
    rng = random.Random(seed)
    for _ in range(count):
        text = random_spec(rng)
        yield mutate(rng, text) if rng.random() < 0.5 else text


# ---- judging what the CLI did with a spec ----

class Hang(BaseException):
    """Raised by the alarm when one command takes too long (a BaseException, so that no
    `except Exception` in the code under test can swallow it)."""


def _on_alarm(signum, frame):
    raise Hang()


def run_cli(argv: list[str], seconds: int) -> tuple[int | str, str, str]:
    """(exit status, stdout, stderr) of `specc ARGV` run in this process; the status is 'hang'
    past `seconds`, or the name of an exception that escaped main()."""
    import contextlib
    import io
    import signal

    from specc.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(seconds)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    except Hang:
        status = "hang"
    except BaseException as escaped:  # noqa: BLE001  (anything escaping main is what we look for)
        status = type(escaped).__name__
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return status, out.getvalue(), err.getvalue()


def _printable(text: str) -> str:
    """The text as words: the error printer may show odd characters as spaces or escapes."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def problem(path: str, text: str, status, stderr: str, allowed=(0, 2)) -> str | None:
    """What is wrong with how the CLI answered a spec, or None if the answer is clean: an
    allowed exit status; no traceback, exception name or internal-error message; an error at
    a spec position names a line of the file and shows that very line."""
    import re

    if status not in allowed:
        return f"exit {status}"
    if "Traceback" in stderr or "bug in specc" in stderr or re.search(r"error: [A-Z]\w*(Error|Exception)\b", stderr):
        return "internal error shown"
    located = re.match(re.escape(path) + r":(\d+):(\d+): error: ", stderr)
    if located:
        line = int(located.group(1))
        # the parser reads "\r\n" and a lone "\r" as "\n", and nothing else ends a line
        lines = re.split(r"\r\n?|\n", text.removeprefix("\ufeff"))
        if not 1 <= line <= len(lines):
            return f"error at line {line} of a {len(lines)}-line file"
        shown = re.search(r"^\s+\d+ \| (.*)$", stderr, re.MULTILINE)
        if shown and _printable(shown.group(1)) != _printable(lines[line - 1].expandtabs(1)):
            return f"error shows another line than line {line}"
    elif status == 2 and not stderr.startswith(("error:", path)):
        return "unlocated error"
    return None


def fuzz(seed: int, count: int, folder, *, seconds: float | None = None, compile_every: int = 10) -> dict:
    """Feed `count` generated specs to `specc check` (and every `compile_every`-th spec that
    passes to `specc compile`), within `seconds` if given. Returns counts and the problems
    found: {'specs', 'valid', 'compiled', 'problems': [(path, what, stderr), ...]}."""
    import time
    from pathlib import Path

    started = time.monotonic()
    found = {"specs": 0, "valid": 0, "compiled": 0, "problems": []}
    for number, text in enumerate(fuzz_specs(seed, count)):
        if seconds is not None and time.monotonic() - started > seconds:
            break
        path = str(Path(folder) / f"fuzz{seed}_{number}.nn")
        Path(path).write_text(text, encoding="utf-8", newline="")
        status, _, stderr = run_cli(["check", path], 20)
        found["specs"] += 1
        what = problem(path, text, status, stderr)
        if what:
            found["problems"].append((path, what, stderr))
        if status != 0:
            continue
        found["valid"] += 1
        if found["valid"] % compile_every == 0:
            status, _, stderr = run_cli(["compile", path, "-o", path[:-3] + ".onnx", "--quiet"], 60)
            found["compiled"] += 1
            what = problem(path, text, status, stderr)
            if what:
                found["problems"].append((path, "compile: " + what, stderr))
    return found
