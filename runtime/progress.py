"""Progress of a training run: a line per epoch, nothing (quiet), or JSON lines."""
from __future__ import annotations

import json
import sys


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _percent(value: float | None) -> str:
    return "   -  " if value is None else f"{100 * value:5.1f}%"


class Reporter:
    """Prints a run's start, each epoch and the end. mode: 'text', 'quiet' or 'json'."""

    def __init__(self, mode: str = "text", stream=None):
        self.mode = mode
        self.stream = stream or sys.stdout

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, model_name: str, settings, sizes: dict, resumed_at: tuple[int, int] | None) -> None:
        if self.mode == "json":
            self._print(json.dumps({"event": "start", "model": model_name, "sizes": sizes,
                                    "resumed_at": resumed_at}))
        elif self.mode == "text":
            self._print(f"training {model_name}: " + ", ".join(f"{n:,} {k}" for k, n in sizes.items()))
            from .data import OWN_SPLIT

            self._print(settings.describe(own_split=settings.data in OWN_SPLIT))
            if resumed_at:
                self._print(f"resuming at epoch {resumed_at[0] + 1}, batch {resumed_at[1] + 1}")

    def note(self, text: str) -> None:
        """A remark before the run starts (a resumed run's settings that differ from the spec)."""
        if self.mode == "json":
            self._print(json.dumps({"event": "note", "text": text}))
        elif self.mode == "text":
            self._print(text)

    def batch(self, epoch: int, batch: int) -> None:
        """Called before each batch (a hook for tests and for interrupting)."""

    def epoch(self, record: dict, epochs: int, seconds_left: float) -> None:
        if self.mode == "json":
            self._print(json.dumps(dict(record, event="epoch", seconds_left=round(seconds_left, 1))))
        elif self.mode == "text":
            if record["train_accuracy"] is not None:
                scores = f"train {_percent(record['train_accuracy'])}  val {_percent(record['val_accuracy'])}"
                if record.get("val_f1") is not None:
                    scores += f"  val slot F1 {_percent(record['val_f1'])}"
            else:  # a regression: the validation loss says how it generalises
                scores = "val loss " + ("-" if record["val_loss"] is None else f"{record['val_loss']:<9.4g}")
            for name, part in record.get("outputs", {}).items():  # several outputs: each one's own
                scores += f"  {name} " + (f"val {_percent(part['val_accuracy'])}" if part["train_accuracy"] is not None
                                          else "val loss " + ("-" if part["val_loss"] is None else f"{part['val_loss']:.4g}"))
            if record.get("best"):
                scores += " *"  # keep best: the weights of this epoch are kept so far
            self._print(f"epoch {record['epoch']:>{len(str(epochs))}}/{epochs}  loss {record['loss']:<9.4g}  "
                        f"{scores}  {record['samples_per_s']:,.0f} {record.get('counts', 'samples')}/s  left {_duration(seconds_left)}")

    def end(self, summary: dict) -> None:
        if self.mode == "json":
            self._print(json.dumps(dict(summary, event="end")))
        elif self.mode == "text":
            for line in summary.get("lines", []):
                self._print(line)
