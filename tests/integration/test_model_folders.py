"""A model folder is all old or all new (issue 50): a save killed at any step leaves one model or the other, a second
writer is refused while the first runs, a folder holding other files is never replaced, and no output escapes its
folder."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

import oneclass
from oneclass.cli import main
from oneclass.errors import OneClassError
from oneclass.files import written_whole
from oneclass.report.write import Report
from tests.integration.test_bad_inputs import _hashes, refused

#: run in a child process: load model B, count the steps of a save that replace, rename or remove files, and kill the
#: process with SIGKILL at step KILL_AT (0: never); EXCHANGE=0 takes the two-rename fallback of the switch
KILLED_SAVE = """
import os, shutil, signal, sys
import oneclass, oneclass.files as files
source, target, kill_at, exchange = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
det = oneclass.load(source)
if not exchange:
    files._exchange = lambda a, b: False
steps = [0]
def hooked(module, name):
    real = getattr(module, name)
    def step(*args, **kwargs):
        steps[0] += 1
        if steps[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    setattr(module, name, step)
for module, name in ((os, "replace"), (os, "rename"), (shutil, "rmtree")):
    hooked(module, name)
det.save(target)
print(steps[0])
"""


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, mini) -> tuple[Path, Path, np.ndarray]:
    """Two different ocsvm models saved, and images on which their scores differ."""
    root = tmp_path_factory.mktemp("two")
    x = mini["x_train"]
    a = oneclass.create("ocsvm", seed=0).fit(x[mini["y_train"] == 0][:60]).save(root / "a")
    b = oneclass.create("ocsvm", seed=0).fit(x[mini["y_train"] == 1][:60]).save(root / "b")
    probe = mini["x_test"][:20]
    assert not np.allclose(oneclass.load(a).score(probe).default, oneclass.load(b).score(probe).default)
    return a, b, probe


def killed_save(source: Path, target: Path, kill_at: int, exchange: bool) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILLED_SAVE, str(source), str(target), str(kill_at), str(int(exchange))],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("exchange", [True, False], ids=["one exchange", "two renames"])
def test_a_save_killed_at_any_step_leaves_the_old_model_or_the_new(two_models, tmp_path, exchange):
    a, b, probe = two_models
    scores = {name: oneclass.load(m).score(probe).default for name, m in (("old", a), ("new", b))}
    oneclass.load(a).save(tmp_path / "count")
    steps = int(killed_save(b, tmp_path / "count", 0, exchange).stdout)
    assert steps == (3 if exchange else 5)  # two files written, (two renames,) the lock removed
    seen = []
    for kill_at in range(1, steps + 1):
        target = tmp_path / f"model-{kill_at}"
        oneclass.load(a).save(target)
        run = killed_save(b, target, kill_at, exchange)
        assert run.returncode == -signal.SIGKILL, run.stderr
        got = oneclass.load(target).score(probe).default  # the next reader clears nothing; it reads a whole model
        which = [name for name, s in scores.items() if np.array_equal(got, s)]
        assert len(which) == 1, f"killed at step {kill_at}: the folder is neither model"
        seen.append(which[0])
        oneclass.load(b).save(target)  # the next writer clears the dead one's lock (and puts back a folder moved aside)
        assert np.array_equal(oneclass.load(target).score(probe).default, scores["new"])
        assert not list(tmp_path.glob(f".model-{kill_at}.writing"))
    assert seen[0] == "old" and seen[-1] == "new"  # killed before the switch: old; after it: new


def test_a_second_writer_is_refused_while_the_first_runs(two_models, tmp_path, capsys):
    a, _, _ = two_models
    target, ready = tmp_path / "model", tmp_path / "ready"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time, pathlib; from oneclass.files import written_whole\n"
        "with written_whole(sys.argv[1], '--out'):\n"
        "    pathlib.Path(sys.argv[2]).touch(); time.sleep(120)"), str(target), str(ready)])
    try:
        for _ in range(600):
            if ready.exists():
                break
            time.sleep(0.1)
        with pytest.raises(OneClassError, match=f"another oneclass \\(process {holder.pid}, since"):
            oneclass.load(a).save(target)
        refused(["train", "--method", "ocsvm", "--dataset", "fashion-mnist-mini", "--normal-class", "0",
                 "--out", target], capsys, "--out", "another oneclass", "wait for it")
    finally:
        holder.kill()
        holder.wait()
    oneclass.load(a).save(target)  # its owner is gone: the lock is stale and cleared
    assert oneclass.load(target).decision_ is not None


def test_save_never_replaces_a_folder_holding_other_files(two_models, tmp_path, capsys):
    a, _, _ = two_models
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "config.json").write_text(json.dumps({"model": "resnet"}))
    beside = tmp_path / "beside"
    oneclass.load(a).save(beside)
    (beside / "notes.txt").write_text("mine")
    for folder, name in ((theirs, "config.json"), (beside, "notes.txt")):
        before = _hashes([folder])
        with pytest.raises(OneClassError, match=f"not a oneclass model's \\({name}\\)"):
            oneclass.load(a).save(folder)
        assert _hashes([folder]) == before
    refused(["train", "--method", "ocsvm", "--dataset", "fashion-mnist-mini", "--normal-class", "0", "--force",
             "--out", theirs], capsys, "--out", "not a oneclass model's (config.json)", unchanged=[theirs])


def test_train_replaces_its_own_model_with_its_metrics_and_leftovers_of_a_crash(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = {"train": (30, 0, 60), "test/normal": (5, 0, 60), "test/abnormal": (5, 150, 256)}
    for sub, (n, low, high) in images.items():
        (tmp_path / sub).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(low, high, (16, 16), dtype=np.uint8)).save(tmp_path / sub / f"{i:02d}.png")
    out = tmp_path / "model"
    train = ["train", "--method", "ocsvm", "--images", str(tmp_path / "train"), "--out", str(out)]
    assert main([*train, "--test", str(tmp_path / "test")]) == 0
    assert (out / "metrics.json").is_file()
    (out / ".config.json.x1y2.tmp").write_bytes(b"half")  # what a crash of a version that wrote in place left
    assert main([*train, "--force"]) == 0  # no --test: no metrics, and the old run's went with its model
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "weights.safetensors"]
    assert not list(tmp_path.glob(".model.writing"))
    capsys.readouterr()


def test_an_error_while_building_leaves_the_folder_as_it_was(two_models, tmp_path):
    a, _, _ = two_models
    target = tmp_path / "model"
    oneclass.load(a).save(target)
    before = _hashes([target])
    with pytest.raises(RuntimeError), written_whole(target, "--out") as new:
        (new / "config.json").write_text("{}")
        raise RuntimeError("the training failed")
    assert _hashes([target]) == before and not list(tmp_path.glob(".model.writing"))


def test_a_report_figure_stays_inside_its_folder(tmp_path):
    report = Report("t")
    for name in ("../../escape", "/abs/olute", "same", "same"):
        report.figure(name, Figure())
    report.write(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "abs-olute.png", "escape.png", "report.html", "report.md", "same-2.png", "same.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
