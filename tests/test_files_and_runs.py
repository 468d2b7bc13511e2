"""Files and runs: outputs never replace what is not a regular file and keep the modes a user
expects; a resumed run continues the interrupted one bit for bit from the printed command;
Ctrl-C at any moment ends with 0 or 130 and no traceback; one run per folder at a time; stale
temporaries go; an unwritable run folder is found before training."""
from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import specc.api
import specc.run_folder
from specc.runtime.progress import Reporter
from specc.cli import main
from specc.specs import spec_path

ROOT = Path(__file__).resolve().parent.parent
NEURON = str(spec_path("neuron"))

TINY = """model tiny
input x: 4
output y: A | B
x -> dense 3 -> relu -> dense 2 -> softmax
train
  data "{data}"
  epochs 3
  batch 8
"""


@pytest.fixture
def tiny(tmp_path) -> str:
    """A spec of 26 weights on 64 samples: a run of a few epochs takes milliseconds."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    spec = tmp_path / "tiny.nn"
    spec.write_text(TINY.format(data=tmp_path / "data.npz"))
    return str(spec)


def specc_cli(*args, **options) -> subprocess.Popen:
    """`specc ARGS` in a fresh interpreter, as a user starts it."""
    return subprocess.Popen([sys.executable, "-m", "specc.cli", *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)


def neuron_input(folder: Path) -> Path:
    """One sample for the neuron spec (3 numbers), as a JSON file."""
    (folder / "x.json").write_text("[1, 2, 3]")
    return folder / "x.json"


def weights_of(checkpoint: Path) -> dict:
    with np.load(checkpoint, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files if key != "meta"}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def interrupt_before(monkeypatch, at: tuple[int, int]) -> None:
    """Ctrl-C (a real SIGINT to this process) just before batch `at` = (epoch, batch), from 0."""
    def batch(self, epoch: int, batch: int) -> None:
        if (epoch, batch) == at:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Reporter, "batch", batch)


# ---- outputs: what may be written, and with which mode ----

def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "pipe")
    return tmp_path / "pipe"


def _socket(tmp_path: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    return tmp_path / "sock"


@pytest.mark.parametrize("target, what", [
    (lambda tmp_path: tmp_path, "it is a directory, not a regular file"),
    (lambda tmp_path: Path("/dev/full"), "it is a character device, not a regular file"),
    (_fifo, "it is a FIFO (named pipe), not a regular file"),
    (_socket, "it is a socket, not a regular file"),
    (lambda tmp_path: tmp_path / "file.txt" / "x.onnx", "is not a folder"),
])
def test_compile_and_run_refuse_what_is_not_a_regular_file_before_any_work(tmp_path, capsys, monkeypatch,
                                                                            target, what):
    (tmp_path / "file.txt").write_text("mine")
    path = target(tmp_path)
    before = os.lstat(path).st_mode if os.path.lexists(path) else None

    def no_work(*args, **kwargs):
        raise AssertionError("the export or run began before the output was checked")

    monkeypatch.setattr(specc.api.Network, "to_onnx", no_work)
    monkeypatch.setattr(specc.api.Network, "run", no_work)
    assert main(["compile", NEURON, "-o", str(path)]) == 2
    assert f"error: cannot write {path}: " in capsys.readouterr().err
    assert main(["run", NEURON, "--input", f"x={neuron_input(tmp_path)}", "--output", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: cannot write {path}: ") and what in error
    assert (os.lstat(path).st_mode if os.path.lexists(path) else None) == before
    assert (tmp_path / "file.txt").read_text() == "mine"


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path, capsys):
    target = tmp_path / "models" / "neuron.onnx"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "latest.onnx"
    link.symlink_to(target)
    assert main(["compile", NEURON, "-o", str(link), "--quiet"]) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes().startswith(b"\x08")  # an ONNX protobuf now


@pytest.mark.skipif(os.geteuid() != 0, reason="making a link owned by another user needs root")
def test_a_link_someone_else_planted_in_a_shared_sticky_folder_is_not_followed(tmp_path, capsys):
    shared, mine = tmp_path / "shared", tmp_path / "mine.txt"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    mine.write_text("mine")
    (shared / "model.onnx").symlink_to(mine)
    os.lchown(shared / "model.onnx", 12345, 12345)
    assert main(["compile", NEURON, "-o", str(shared / "model.onnx")]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot write {shared / 'model.onnx'}: it is a symbolic link "
                                              "owned by another user in a shared folder; it is not followed")
    assert mine.read_text() == "mine"


def test_new_outputs_follow_the_umask_and_replaced_ones_keep_their_mode(tmp_path, tiny, capsys):
    old = os.umask(0o027)
    try:
        assert main(["train", tiny, "--out", str(tmp_path / "run"), "--epochs", "1", "--quiet"]) == 0
        assert main(["run", NEURON, "--input", f"x={neuron_input(tmp_path)}", "--output", str(tmp_path / "out.npz"), "--quiet"]) == 0
    finally:
        os.umask(old)
    written = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert written == ["checkpoint.npz", "curve.png", "heldout.json", "history.json", "tiny.onnx"]
    assert {name: mode_of(tmp_path / "run" / name) for name in written} == dict.fromkeys(written, 0o640)
    assert mode_of(tmp_path / "out.npz") == 0o640

    shared = tmp_path / "shared.onnx"
    shared.write_bytes(b"")
    shared.chmod(0o664)
    assert main(["compile", NEURON, "-o", str(shared), "--quiet"]) == 0
    assert mode_of(shared) == 0o664 and shared.stat().st_size > 0


def test_an_output_reaches_the_disk_before_its_name_and_the_rename_is_synced(tmp_path, capsys, monkeypatch):
    """After a power cut the path holds the old file or the new one, whole: the temporary's data
    is synced before the rename, and the folder after it."""
    synced, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(handle):
        synced.append(("folder" if stat.S_ISDIR(os.fstat(handle).st_mode) else "file", os.fstat(handle).st_size))
        real_fsync(handle)

    def replace(source, target):
        synced.append(("rename", Path(target).name))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    model = tmp_path / "neuron.onnx"
    assert main(["compile", NEURON, "-o", str(model), "--quiet"]) == 0
    assert synced == [("file", model.stat().st_size), ("rename", "neuron.onnx"), ("folder", synced[2][1])]


def test_the_last_line_of_a_run_names_every_file_it_wrote(tmp_path, tiny, capsys):
    pytest.importorskip("matplotlib")
    assert main(["train", tiny, "--out", str(tmp_path / "run"), "--epochs", "1"]) == 0
    assert f"wrote {tmp_path / 'run'}/checkpoint.npz, history.json, curve.png and heldout.json\n" in capsys.readouterr().out


def test_a_new_run_into_a_finished_runs_folder_says_it_replaces_it(tmp_path, tiny, capsys):
    out = str(tmp_path / "run")
    assert main(["train", tiny, "--out", out, "--epochs", "1"]) == 0
    assert "earlier run" not in capsys.readouterr().out
    assert main(["train", tiny, "--out", out, "--epochs", "1"]) == 0
    assert f"note: {out} holds an earlier run; this one replaces its files" in capsys.readouterr().out


def test_a_new_run_without_keep_best_leaves_no_earlier_best_weights_behind(tmp_path, tiny, capsys):
    # show and play take a run folder's best.npz first: an earlier run's would pass for this one's
    out = tmp_path / "run"
    best = Path(tiny).with_name("best.nn")
    best.write_text(Path(tiny).read_text() + "  keep best\n")
    assert main(["train", str(best), "--out", str(out), "--epochs", "1", "--quiet"]) == 0
    assert (out / "best.npz").is_file()
    assert main(["train", tiny, "--out", str(out), "--epochs", "1", "--quiet"]) == 0
    assert not (out / "best.npz").exists() and (out / "checkpoint.npz").is_file()


# ---- resuming continues the same run ----

def test_the_printed_command_continues_the_interrupted_run_bit_for_bit(tmp_path, tiny, capsys, monkeypatch):
    flags = ["--epochs", "3", "--batch", "4", "--lr", "0.01", "--seed", "3", "--quiet"]
    assert main(["train", tiny, "--out", str(tmp_path / "straight"), *flags]) == 0
    capsys.readouterr()
    interrupt_before(monkeypatch, (1, 2))
    assert main(["train", tiny, "--out", str(tmp_path / "stopped run"), *flags]) == 130
    error = capsys.readouterr().err
    checkpoint = tmp_path / "stopped run" / "checkpoint.npz"
    assert error == (f"interrupted at epoch 2, batch 3; checkpoint written to {checkpoint}; continue with: "
                     f"specc train {tiny} --resume {shlex.quote(str(checkpoint))}\n")
    monkeypatch.undo()

    command = shlex.split(error.split("continue with: ")[1])
    assert command[0] == "specc" and main(command[1:]) == 0
    straight, resumed = weights_of(tmp_path / "straight" / "checkpoint.npz"), weights_of(checkpoint)
    assert straight.keys() == resumed.keys()
    assert sorted(key.split("/")[0] for key in straight) == ["classes"] + ["optimizer"] * 8 + ["weights"] * 4
    assert all(np.array_equal(straight[key], resumed[key]) for key in straight)
    assert sorted(p.name for p in (tmp_path / "stopped run").iterdir()) == [
        "checkpoint.npz", "curve.png", "heldout.json", "history.json", "tiny.onnx"]


def _stopped_run(tmp_path, tiny, monkeypatch) -> Path:
    """The checkpoint of a run started with --batch 4 --epochs 3, stopped in epoch 2."""
    interrupt_before(monkeypatch, (1, 2))
    assert main(["train", tiny, "--out", str(tmp_path / "run"), "--batch", "4", "--quiet"]) == 130
    monkeypatch.undo()
    return tmp_path / "run" / "checkpoint.npz"


@pytest.mark.parametrize("flags, message", [
    (["--batch", "8"], "error: --batch 8 contradicts the run being resumed, which has batch 4 (saved in {ckpt})"),
    (["--epochs", "2"], "error: --epochs 2 contradicts the run being resumed, which has epochs 3 (saved in {ckpt})"),
    (["--seed", "1"], "error: --seed 1 contradicts the run being resumed, which has seed 0 (saved in {ckpt})"),
    (["--out", "{tmp}/elsewhere"], "error: --out {tmp}/elsewhere is not the folder of the run being resumed "
                                   "({tmp}/run)"),
])
def test_a_flag_that_contradicts_the_resumed_run_is_refused_naming_both(tmp_path, tiny, capsys, monkeypatch,
                                                                       flags, message):
    checkpoint = _stopped_run(tmp_path, tiny, monkeypatch)
    capsys.readouterr()
    flags = [flag.format(tmp=tmp_path) for flag in flags]
    assert main(["train", tiny, "--resume", str(checkpoint), *flags]) == 2
    assert capsys.readouterr().err.splitlines()[0] == message.format(ckpt=checkpoint, tmp=tmp_path)
    assert not (tmp_path / "elsewhere").exists()


def test_a_resumed_run_may_repeat_its_settings_and_train_longer(tmp_path, tiny, capsys, monkeypatch):
    checkpoint = _stopped_run(tmp_path, tiny, monkeypatch)
    capsys.readouterr()
    same = ["--batch", "4", "--out", str(tmp_path / "run"), "--data", str(tmp_path / "data.npz"), "--epochs", "5"]
    assert main(["train", tiny, "--resume", str(checkpoint), *same]) == 0
    out = capsys.readouterr().out
    assert "note: the spec says batch 8; this run was started with batch 4 and goes on with it\n" in out
    assert "the spec says epochs" not in out  # --epochs 5 extends the run: the user's choice, no note
    assert "resuming at epoch 2, batch 3\n" in out and "epoch 5/5" in out


@pytest.mark.parametrize("change, message", [
    ({"batch": 0}, "has the setting batch = 0, which is not a whole number of at least 1"),
    ({"optimizer": "rmsprop"}, "has the setting optimizer = 'rmsprop', which is not sgd or adam"),
    ({"bogus": 1}, "has an unknown setting 'bogus'"),
    (None, "holds no run settings"),
])
def test_the_saved_settings_of_a_resumed_run_are_checked_like_a_spec(tmp_path, tiny, capsys, change, message):
    assert main(["train", tiny, "--out", str(tmp_path / "run"), "--epochs", "1", "--quiet"]) == 0
    with np.load(tmp_path / "run" / "checkpoint.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(str(arrays["meta"]))
    if change is None:
        del meta["settings"]
    else:
        meta["settings"].update(change)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "run" / "changed.npz", **arrays)
    assert main(["train", tiny, "--resume", str(tmp_path / "run" / "changed.npz")]) == 2
    assert capsys.readouterr().err.splitlines()[0] == f"error: checkpoint {tmp_path / 'run' / 'changed.npz'} {message}"


# ---- Ctrl-C at any moment ----

def _interrupting(monkeypatch, owner, name: str) -> None:
    """Let `owner.name` send this process Ctrl-C as it starts, then do its work."""
    original = getattr(owner, name)

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, interrupted)


@pytest.mark.parametrize("owner, name, where", [
    (specc.api.Network, "load_data", "at epoch 1, batch 1"),
    (specc.run_folder, "write_history", "after the last epoch, before exporting tiny.onnx"),
    (specc.api.Network, "export", "after the last epoch, before scoring the exported model"),
])
def test_ctrl_c_in_every_step_of_a_run_writes_the_checkpoint_and_exits_130(tmp_path, tiny, capsys, monkeypatch,
                                                                          owner, name, where):
    _interrupting(monkeypatch, owner, name)
    out = tmp_path / "run"
    assert main(["train", tiny, "--out", str(out), "--quiet"]) == 130
    error = capsys.readouterr().err
    assert error.startswith(f"interrupted {where}; checkpoint written to {out}/checkpoint.npz; continue with: ")
    assert error.count("\n") == 1


def test_ctrl_c_while_scoring_the_exported_model_lets_the_run_finish(tmp_path, tiny, capsys, monkeypatch):
    _interrupting(monkeypatch, specc.run_folder, "heldout_scores")
    assert main(["train", tiny, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_real_ctrl_c_at_many_moments_ends_with_0_or_130_and_no_traceback(tmp_path, tiny):
    # delays counted from the run's first line (setup done, training begins), so that no signal
    # lands while Python itself is still starting; 40 epochs take about 0.1 s, what follows
    # (history, curve, export, scoring) about a second
    delays = (0, 0.02, 0.1, 0.4, 1.0)
    runs = [specc_cli("train", tiny, "--out", tmp_path / f"run{i}", "--epochs", "40") for i in range(len(delays))]
    for delay, process in zip(delays, runs):
        assert process.stdout.readline().startswith("training tiny: ")
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
    results = [(process.wait(60), *process.communicate()) for process in runs]
    for code, stdout, stderr in results:
        assert code in (0, 130), stderr
        assert "Traceback" not in stderr and "Exception ignored" not in stderr and "KeyboardInterrupt" not in stderr
        assert (code == 130) == ("continue with: specc train" in stderr)
    assert results[0][0] == 130  # the first lands during training


# ---- one run per folder ----

def test_a_second_run_into_a_busy_folder_is_refused_and_a_dead_ones_lock_blocks_nothing(tmp_path, tiny, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from specc.run_lock import RunLock\n"
                               f"with RunLock({str(out)!r}):\n    print('locked', flush=True); sys.stdin.read()"],
                              cwd=ROOT, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline() == "locked\n"
    assert main(["train", tiny, "--out", str(out), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: the run folder {out} is in use by another specc train (pid {holder.pid} on "
                            f"{socket.gethostname()}, started {time.strftime('%Y-%m-%d')} ")
    assert not (out / "checkpoint.npz").exists()

    holder.kill()  # SIGKILL: the lock file stays, the lock does not
    holder.wait()
    assert (out / ".specc-train.lock").exists()
    assert main(["train", tiny, "--out", str(out), "--quiet"]) == 0
    assert (out / "tiny.onnx").exists() and not (out / ".specc-train.lock").exists()


def test_a_run_removes_the_temporaries_a_killed_run_left_and_only_those(tmp_path, tiny, capsys):
    out = tmp_path / "run"
    out.mkdir()
    stale = [out / ".checkpoint.npz.k3x_9q2a.tmp", out / ".tiny.onnx.abcdefgh.tmp", out / ".curve.png.a1b2c3d4.tmp"]
    others = [out / ".notes.txt.abcdefgh.tmp", out / ".checkpoint.npz.tmp", out / "checkpoint.npz.abcdefgh.tmp"]
    for path in stale + others:
        path.write_bytes(b"x" * 100)
    assert main(["train", tiny, "--out", str(out), "--quiet"]) == 0
    assert [path.exists() for path in stale + others] == [False] * 3 + [True] * 3


# ---- an unwritable run folder is found before training ----

def test_a_run_folder_that_is_a_file_is_refused_before_training(tmp_path, tiny, capsys):
    (tmp_path / "file").write_text("mine")
    assert main(["train", tiny, "--out", str(tmp_path / "file")]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: cannot write {tmp_path / 'file'}: it is not a folder\n"
    assert "training" not in captured.out
    assert main(["train", tiny, "--out", str(tmp_path / "file" / "run")]) == 2
    assert capsys.readouterr().err == f"error: cannot write {tmp_path / 'file' / 'run'}: {tmp_path / 'file'} is not a folder\n"
    assert (tmp_path / "file").read_text() == "mine"


def test_a_run_file_that_is_a_folder_is_refused_before_training(tmp_path, tiny, capsys):
    (tmp_path / "run" / "history.json").mkdir(parents=True)
    assert main(["train", tiny, "--out", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: cannot write {tmp_path / 'run' / 'history.json'}: it is a directory")
    assert "training" not in captured.out and not (tmp_path / "run" / "checkpoint.npz").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder")
def test_a_read_only_run_folder_is_refused_before_training(tmp_path, tiny, capsys):
    (tmp_path / "locked").mkdir(mode=0o555)
    assert main(["train", tiny, "--out", str(tmp_path / "locked" / "run")]) == 2
    assert capsys.readouterr().err == (f"error: cannot write {tmp_path / 'locked' / 'run'}: no permission to write "
                                       f"in {tmp_path / 'locked'}\n")
