"""Benchmark grid: resumable JSON-lines results (SIGKILL-safe), executors, report."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys

import pytest
import torch

import oneclass
from oneclass.bench import ResultsFile, make_cells, parse_classes, read_results, run_grid
from oneclass.bench.grid import threads_per_worker
from oneclass.bench.provenance import git_commit
from oneclass.bench.report import paper_tables, write_report
from oneclass.cli import main
from oneclass.errors import OneClassError
from oneclass.training import EveryEpoch

TINY = {"epochs": 1, "widths": [4, 8], "latent_dim": 4}  # an ae that trains on 250 images in well under a second


def _cells(classes=(0, 1, 2), seeds=(0, 1), methods=("ae",)):
    return make_cells(methods, "fashion-mnist-mini", "one-vs-rest", classes, seeds, "paper", TINY)


def test_parse_classes():
    assert parse_classes("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_classes("5") == [5]
    with pytest.raises(OneClassError, match="--classes"):
        parse_classes("a-b")


def test_unknown_hyper_parameter_fails_before_training():
    with pytest.raises(OneClassError, match="no hyper-parameter 'epochz'"):
        make_cells(["ae"], "fashion-mnist-mini", "one-vs-rest", [0], [0], "paper", {"epochz": 1})


def test_a_methods_paper_validation_set_applies_where_the_protocol_has_outliers_and_none_is_set():
    oled = {"val_normal": 150, "val_outliers": 150}
    assert make_cells(["oled"], "mnist", "memae", [0], [0])[0].settings()[1] == oled
    assert make_cells(["oled"], "moving-scenes", "ucsd-patches", [0], [0], "fast")[0].settings()[1] == {}
    mine = make_cells(["oled"], "mnist", "memae", [0], [0], overrides={"val_outliers": 0})[0].settings()[1]
    assert mine == {"val_outliers": 0}
    assert make_cells(["ae"], "mnist", "memae", [0], [0])[0].settings()[1] == {}  # ae has no paper set


def test_results_file_skips_duplicates_and_cuts_a_half_written_line(tmp_path):
    path = tmp_path / "r.jsonl"
    row = _report_row("ae", "d", "p", 0, 0, "rec", 0.9)
    out = ResultsFile(path)
    assert out.append(row)
    assert not out.append(dict(row))  # the same cell again
    with path.open("ab") as f:
        f.write(b'{"method": "ae", "dataset": "d", "proto')  # a crash in the middle of a line
    assert len(read_results(path)) == 1
    assert out.append({**row, "seed": 1})
    lines = path.read_text().splitlines()
    assert [json.loads(line)["seed"] for line in lines] == [0, 1]


def test_a_results_line_is_dirty_for_changed_code_but_not_for_a_ledger_being_appended_to(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                              capture_output=True, text=True).stdout.strip()

    (tmp_path / "results").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "results" / "ledger.jsonl").write_text("{}\n")
    (tmp_path / "src" / "method.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    head = git("rev-parse", "HEAD")
    with open(tmp_path / "results" / "ledger.jsonl", "a") as f:
        f.write("{}\n")
    assert git_commit(tmp_path / "src") == head
    (tmp_path / "src" / "method.py").write_text("x = 2\n")
    git_commit.cache_clear()
    assert git_commit(tmp_path / "src") == head + "-dirty"
    git_commit.cache_clear()


def test_grid_runs_each_cell_once_and_records_everything(tmp_path):
    out = ResultsFile(tmp_path / "r.jsonl")
    cells = _cells(classes=(0, 1), seeds=(0,))
    assert run_grid(cells, out) == 0
    rows = read_results(out.path)
    assert len(rows) == 2
    r = rows[0]
    assert set(r["auroc"]) == {"rec", "rec_norm"} and set(r["eer"]) == set(r["f1"]) == {"rec", "rec_norm"}
    assert 0.5 < r["auroc"]["rec"] <= 1.0
    assert r["epochs"] == 1 and r["selection"] == "none" and r["n_train"] == 250 and r["n_test"] == 1000
    assert r["params"]["widths"] == [4, 8] and r["overrides"] == TINY and r["preset"] == "paper"
    assert len(r["curves"]["roc_tpr"]) == 101 and sum(r["curves"]["hist_normal"]) == 100
    mtime = out.path.stat().st_mtime_ns
    assert run_grid(cells, out) == 0  # everything done: nothing runs, nothing is written
    assert out.path.stat().st_mtime_ns == mtime
    other = make_cells(["ae"], "fashion-mnist-mini", "one-vs-rest", [0], [0], "paper", {**TINY, "latent_dim": 2})
    assert run_grid(other, out) == 0 and len(read_results(out.path)) == 3  # other overrides: a new cell


def test_a_cell_stopped_in_training_resumes_from_its_checkpoint(tmp_path, mini, monkeypatch):
    """A cell whose training stopped after epoch 1 (its checkpoint left in `<out>.checkpoints/`) continues from
    there when the grid runs again, and gives the line an uninterrupted run gives; no checkpoint is left behind."""
    from oneclass.bench.grid import checkpoint_dir, run_cell
    from oneclass.checkpoint import Checkpoint, Checkpointing
    from oneclass.data.protocols import make_split

    cell = make_cells(["ae"], "fashion-mnist-mini", "one-vs-rest", [1], [0], "paper", {**TINY, "epochs": 3})[0]
    out = ResultsFile(tmp_path / "r.jsonl")
    params, _ = cell.settings()
    det = oneclass.create("ae", **params)
    folder = checkpoint_dir(tmp_path / "r.jsonl.checkpoints", cell)

    def stop_after_epoch_2(epoch):
        if epoch == 2:
            raise KeyboardInterrupt  # as a kill between epochs: epoch 1's checkpoint is on disk

    with pytest.raises(KeyboardInterrupt):
        det.fit(make_split("one-vs-rest", mini, 1).x_train, callbacks=[EveryEpoch(stop_after_epoch_2), Checkpointing(folder)])
    assert list(folder.glob("*.json"))
    resumed = []
    load = Checkpoint.load
    monkeypatch.setattr(Checkpoint, "load", lambda self: resumed.append(load(self)) or resumed[-1])
    assert run_grid([cell], out) == 0
    assert [r["epoch"] for r in resumed] == [1]  # the grid's training started from epoch 1's checkpoint
    assert read_results(out.path)[0]["auroc"] == run_cell(cell)["auroc"]
    assert not (tmp_path / "r.jsonl.checkpoints").exists()


def test_kill_9_at_random_moments_never_corrupts_or_duplicates(tmp_path):
    """SIGKILL the grid at an event drawn at random: just after it starts (its banner) or just after its k-th
    finished cell, with at least one cell still to run, so every kill lands inside the grid's work whatever
    the machine's speed. After every kill each line parses and no cell is there twice; a last run completes."""
    path = tmp_path / "grid.jsonl"
    cmd = [sys.executable, "-m", "oneclass.cli", "bench", "--methods", "ae", "--dataset", "fashion-mnist-mini",
           "--classes", "0-5", "--seeds", "0", "--set", "epochs=3", "--set", "widths=[4,8]", "--set", "latent_dim=4",
           "--out", str(path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    rng = random.Random(0)

    def finished() -> list[tuple[int, int]]:
        raw = path.read_bytes() if path.exists() else b""
        complete = raw[: raw.rfind(b"\n") + 1].decode()
        return [(r["normal_class"], r["seed"]) for r in map(json.loads, complete.splitlines())]  # every line parses

    kills = 0
    while (remaining := 6 - len(finished())) >= 2:
        events = rng.randrange(remaining)  # 0: the banner; k: the k-th finished cell (k < remaining)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        seen = -1
        for line in proc.stdout:
            seen += "cells," in line or "AUROC" in line
            if seen == events:
                break
        proc.send_signal(signal.SIGKILL)
        proc.stdout.close()
        assert proc.wait() == -signal.SIGKILL  # killed, not finished: a cell was still to run
        kills += 1
        keys = finished()
        assert len(keys) == len(set(keys)) and len(keys) == 6 - remaining + events
    assert kills >= 3
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, timeout=300)
    lines = path.read_text().splitlines()
    assert len(lines) == 6
    assert sorted(json.loads(line)["normal_class"] for line in lines) == [0, 1, 2, 3, 4, 5]


def test_process_pool_gives_the_same_aurocs_as_in_process(tmp_path):
    """At the same thread count as the pool's workers: a thread count changes the floating-point order (in bf16,
    the default precision where the CPU has it, by more than the 5 decimals a result line keeps)."""
    cells = _cells(classes=(3,), seeds=(0, 1))
    a, b = ResultsFile(tmp_path / "a.jsonl"), ResultsFile(tmp_path / "b.jsonl")
    threads = torch.get_num_threads()
    torch.set_num_threads(threads_per_worker(2))
    try:
        run_grid(cells, a)
    finally:
        torch.set_num_threads(threads)
    run_grid(cells, b, workers=2)
    key = lambda r: (r["normal_class"], r["seed"])  # noqa: E731
    ra, rb = sorted(read_results(a.path), key=key), sorted(read_results(b.path), key=key)
    assert [r["auroc"] for r in ra] == [r["auroc"] for r in rb]
    assert {r["threads"] for r in rb} == {threads_per_worker(2)}


def test_ray_executor_runs_a_two_cell_grid(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'oneclass[ray]')")
    out = ResultsFile(tmp_path / "ray.jsonl")
    try:
        assert run_grid(_cells(classes=(0, 1), seeds=(0,)), out, executor="ray", workers=2) == 0
    finally:
        ray.shutdown()
    local = ResultsFile(tmp_path / "local.jsonl")
    run_grid(_cells(classes=(0, 1), seeds=(0,)), local, workers=2)
    key = lambda r: r["normal_class"]  # noqa: E731
    assert [r["auroc"] for r in sorted(read_results(out.path), key=key)] == \
        [r["auroc"] for r in sorted(read_results(local.path), key=key)]


def _report_row(method: str, dataset: str, protocol: str, c: int, seed: int, score: str, auc: float) -> dict:
    """A result line as `run_cell` writes it, with only what the report reads."""
    return {"method": method, "dataset": dataset, "protocol": protocol, "normal_class": c, "seed": seed,
            "preset": "fast", "overrides": {}, "auroc": {score: auc}, "eer": {score: 0.2}, "f1": {score: 0.8},
            "default_score": score, "epochs": 30,
            "selection": "none", "n_train": 6000, "n_test": 10000, "fit_seconds": 60.0, "score_seconds": 1.0,
            "params": {}, "version": "test", "commit": None, "threads": 2,
            "curves": {"roc_tpr": [i / 100 for i in range(101)], "hist_edges": [0, 1, 2], "hist_normal": [5, 1],
                       "hist_anomalous": [1, 5]}}


def test_report_puts_paper_numbers_beside_ours(tmp_path):
    dsvdd = next(e for e in paper_tables() if (e["paper"], e["dataset"], e["method"]) == ("ADACL", "fashion-mnist", "dsvdd"))
    rows = [_report_row("dsvdd", "fashion-mnist", "one-vs-rest", c, seed, "distance", auc)
            for c in range(10) for seed, auc in ((0, 0.90), (1, 0.92))]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"broken')
    md, html = write_report([path], tmp_path / "report")
    text = md.read_text()
    assert "0.9100 ± 0.0141" in text  # mean ± std over the two seeds
    assert f"{dsvdd['mean']:.4f}" in text and f"{0.91 - dsvdd['mean']:+.4f}" in text
    assert f"{0.91 - dsvdd['per_class'][0]:+.4f}" in text
    assert html.read_text().count("data:image/png;base64,") == 3  # ROC, histograms, bars: embedded
    assert len(list((tmp_path / "report").glob("*.png"))) == 3


def test_report_means_leave_out_a_seed_that_lacks_classes_and_say_so(tmp_path):
    rows = [_report_row("ae", "mnist", "memae", c, 0, "rec", 0.90 + c / 100) for c in range(10)]
    rows += [_report_row("ae", "mnist", "memae", c, 1, "rec", 0.50) for c in range(4)]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    md = write_report([path], tmp_path / "report")[0].read_text()
    note = "(seed 0 only: seed 1 has 4 of 10 classes)"
    summary = _table(md, "## Summary")
    assert summary[1][5:7] == ["2", f"0.9450 {note}"]  # two seeds ran; the mean is seed 0's alone
    per_class = _table(md, "preset fast")
    assert per_class[1] == ["0", "0.7000 ± 0.2828"] and per_class[5] == ["4", "0.9400"]  # MNIST: "0", not "0 0"
    assert per_class[-1] == [f"mean {note}", "0.9450"]


def _table(md: str, heading: str) -> list[list[str]]:
    """The first Markdown table after `heading`, as rows of cells (header included, separator left out)."""
    lines = md.split(heading, 1)[1].splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("|"))
    table = itertools.takewhile(lambda x: x.startswith("|"), lines[start:])
    return [[c.strip() for c in x.strip("|").split("|")] for x in table if not set(x) <= set("|-: ")]


def test_report_compares_each_paper_row_with_the_same_score(tmp_path):
    """ADA's Table 1 prints cam_d, cam, d and rec per digit: each sits beside our score of the same name, and its Δ
    is taken against that score, not against our default."""
    published = {e["score"]: e for e in paper_tables()
                 if (e["paper"], e["table"], e["method"], e["dataset"]) == ("ADA", "Table 1", "ada", "mnist")}
    rows = []
    for c in range(10):
        row = _report_row("ada", "mnist", "noisy-mnist", c, 0, "cam_d", 0.6)
        row["auroc"] = {"cam_d": 0.6, "cam": 0.61, "d": 0.5, "rec": 0.7}
        rows.append(row)
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = _table(write_report([path], tmp_path / "report")[0].read_text(), "## ada on mnist (noisy-mnist)")
    header, digit3, mean = table[0], table[4], table[-1]
    for score, ours in (("cam_d", 0.6), ("cam", 0.61), ("d", 0.5), ("rec", 0.7)):
        col = header.index(f"Δ {score}")
        assert header[col - 1].startswith(published[score]["label"]) and header[col - 2].startswith(score)
        assert digit3[col] == f"{ours - published[score]['per_class'][3]:+.4f}"
        assert mean[col] == f"{ours - published[score]['mean']:+.4f}"


def test_report_compares_a_subset_of_classes_with_the_papers_same_subset(tmp_path):
    """Two classes of ten are not the paper's mean: the summary says it is a subset and takes Δ against the
    paper's mean over the same two classes."""
    adacl = next(e for e in paper_tables() if (e["dataset"], e["method"]) == ("fashion-mnist", "adacl"))
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(_report_row("adacl", "fashion-mnist", "one-vs-rest", c, 0, "regression", 0.9))
                            + "\n" for c in (0, 6)))
    summary = _table(write_report([path], tmp_path / "report")[0].read_text(), "## Summary")
    row = dict(zip(summary[0], summary[1], strict=True))
    subset = (adacl["per_class"][0] + adacl["per_class"][6]) / 2
    assert row["mean AUROC"] == "0.9000 (2 of 10 classes)"
    assert row["paper"].startswith(f"{subset:.4f} (ADACL Table 1)") and "2 of 10" in row["paper"]
    assert row["Δ"] == f"{0.9 - subset:+.4f}" and f"{0.9 - adacl['mean']:+.4f}" not in row["Δ"]


def test_report_compares_caltech_runs_by_number_of_inlier_categories(tmp_path):
    """G2D's Table 2 is printed for 1, 3 and 5 inlier categories only: those are our classes 1, 3, 5."""
    g2d = next(e for e in paper_tables() if (e["dataset"], e["method"], e["metric"]) == ("caltech256", "g2d", "auroc"))
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(_report_row("g2d", "caltech256", "caltech", c, 0, "p_irregular", 0.95)) + "\n"
                            for c in (1, 3, 5)))
    text = write_report([path], tmp_path / "report")[0].read_text()
    assert f"{0.95 - g2d['per_class'][1]:+.4f}" in text and f"{g2d['per_class'][5]:.4f}" in text
    assert f"{0.95 - g2d['mean']:+.4f}" in text  # the mean of the three rows


def test_track_epochs_records_test_auroc_per_epoch_and_the_report_shows_it(tmp_path):
    out = ResultsFile(tmp_path / "r.jsonl")
    tiny_adacl = {"epochs": 2, "widths": [4, 8], "hidden": 8, "val_size": 50}
    cells = make_cells(["adacl"], "fashion-mnist-mini", "one-vs-rest", [7], [0], "paper", tiny_adacl, track_epochs=True)
    assert run_grid(cells, out) == 0
    (row,) = read_results(out.path)
    assert len(row["epoch_test_auroc"]) == 2 and len(row["val_history"]) == 2
    # tracking scores the real test split after each epoch and leaves training as it was: epoch 1's record is
    # the test AUROC of the same cell trained for one epoch without tracking
    one_epoch = ResultsFile(tmp_path / "one.jsonl")
    run_grid(make_cells(["adacl"], "fashion-mnist-mini", "one-vs-rest", [7], [0], "paper", {**tiny_adacl, "epochs": 1}),
             one_epoch)
    (first,) = read_results(one_epoch.path)
    assert row["epoch_test_auroc"][0] == pytest.approx(first["auroc"]["regression"], abs=1e-5)
    assert row["val_history"][0] == pytest.approx(first["val_history"][0], abs=1e-5)
    assert row["auroc"]["regression"] == pytest.approx(row["epoch_test_auroc"][row["best_epoch"] - 1], abs=1e-5)
    assert "track_epochs" not in json.loads(json.dumps(cells[0].key()))  # tracking is not part of the key
    md, _ = write_report([out.path], tmp_path / "rep")
    assert "test AUROC var" in md.read_text() and any((tmp_path / "rep").glob("*-epochs.png"))


def test_bench_and_report_commands(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    args = ["bench", "--methods", "ae", "--dataset", "fashion-mnist-mini", "--classes", "2", "--seeds", "0",
            "--epochs", "1", "--set", "widths=[4,8]", "--out", str(out)]
    assert main(args) == 0
    assert "AUROC" in capsys.readouterr().out
    assert main(args) == 0
    assert "1 already in" in capsys.readouterr().out
    # a line made under other defaults (here: another latent size) is kept, not rerun, and the command says so
    row = json.loads(out.read_text())
    row["params"]["latent_dim"] = 3
    out.write_text(json.dumps(row) + "\n")
    before = out.read_bytes()
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "1 of these cells are in" in printed and "latent_dim 3, now 16" in printed and "1 already in" in printed
    assert out.read_bytes() == before
    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "report.html").is_file()
    assert main(["bench", "--methods", "ae", "--dataset", "fashion-mnist-mini", "--classes", "12",
                 "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "oneclass: error: --classes 12: fashion-mnist-mini has classes 0-9"


def test_epochs_table_shows_validation_only_when_it_is_an_auroc(tmp_path):
    row = {"method": "ae", "dataset": "fashion-mnist-mini", "protocol": "one-vs-rest", "normal_class": 1, "seed": 0,
           "preset": "paper", "overrides": {}, "auroc": {"rec": 0.9}, "eer": {"rec": 0.2}, "f1": {"rec": 0.8},
           "default_score": "rec", "epochs": 2,
           "selection": "val-normal", "val_history": [-0.5, -0.4], "epoch_test_auroc": [0.8, 0.9], "n_train": 250,
           "n_test": 1000, "fit_seconds": 1.0, "score_seconds": 0.1, "params": {}, "version": "test", "commit": None,
           "threads": 2, "curves": {"roc_tpr": [i / 100 for i in range(101)], "hist_edges": [0, 1, 2],
                                    "hist_normal": [5, 1], "hist_anomalous": [1, 5]}}
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(row) + "\n")
    md, _ = write_report([path], tmp_path / "rep")
    assert "| 1 Trouser | 1 |  |  | 0.8500 | 2.50e-03 |" in md.read_text()  # minus mean scores are no AUROC


def test_report_matches_paper_rows_to_variants_by_their_overrides(tmp_path):
    """OLED's CAE ablation (Table 4) is `oled` with masking=random: its rows must not be compared with OLED's."""
    def row(c, overrides, avg):
        return {"method": "oled", "dataset": "mnist", "protocol": "memae", "normal_class": c, "seed": 0,
                "preset": "fast", "overrides": overrides, "auroc": {"mask": avg, "cont": avg, "rec": avg, "avg": avg},
                "eer": {"avg": 0.1}, "f1": {"avg": 0.9}, "default_score": "avg", "epochs": 30, "selection": "val-normal",
                "n_train": 1200, "n_test": 900,
                "fit_seconds": 100.0, "score_seconds": 1.0, "params": {}, "version": "test", "commit": None,
                "threads": 2, "curves": {"roc_tpr": [i / 100 for i in range(101)], "hist_edges": [0, 1, 2],
                                         "hist_normal": [5, 1], "hist_anomalous": [1, 5]}}
    path = tmp_path / "r.jsonl"
    rows = [row(c, {}, 0.98) for c in range(10)] + [row(c, {"masking": "random"}, 0.90) for c in range(10)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = write_report([path], tmp_path / "rep")[0].read_text()
    sections = [part for part in text.split("\n## ") if part.startswith("oled on mnist")]
    learned = next(part for part in sections if "overrides {}" in part)
    random_masks = next(part for part in sections if 'overrides {"masking": "random"}' in part)
    assert "OLED s_avg" in learned and "CAE" not in learned
    assert "CAE s_avg" in random_masks and "OLED s_" not in random_masks
    assert f"{0.98 - 0.9845:+.4f}" in text and f"{0.90 - 0.8768:+.4f}" in text  # Δ against the avg rows
    assert f"0.9772 for OLED s_rec (rec); ours 0.9800, Δ {0.98 - 0.9772:+.4f}" in learned  # each score beside its own


def test_outlier_ratio_cells_record_each_test_set_and_the_report_plots_f1(tmp_path):
    tiny_alocc = {"epochs": 1, "widths": [4, 4, 8, 8]}
    cells = [*make_cells(["alocc"], "fashion-mnist-mini", "outlier-ratio", [1], [0], "paper", tiny_alocc),
             *make_cells(["ae"], "fashion-mnist-mini", "outlier-ratio", [1], [0], "paper", TINY)]
    out = ResultsFile(tmp_path / "r.jsonl")
    assert run_grid(cells, out) == 0
    rows = {r["method"]: r for r in read_results(out.path)}
    alocc, ae = rows["alocc"], rows["ae"]
    assert list(alocc["test_sets"]) == ["10%", "20%", "30%", "40%", "50%"]
    ten = alocc["test_sets"]["10%"]
    assert ten["n"] == 111 and ten["anomaly_fraction"] == pytest.approx(0.1, abs=0.001)
    assert set(ten["f1_target_tau"]) == {"d_rx", "d_x"} and set(ten["f1_target"]) == {"d_rx", "d_x", "rec"}
    assert ae["test_sets"]["50%"]["f1_target_tau"] == {}  # the ae has no threshold of its own
    for row in (alocc, ae):  # the calibrated decision's F1 on the whole split, recomputed from its flag rates
        n_anomalous = round(row["n_test"] * row["anomaly_fraction"])
        kept = round((row["n_test"] - n_anomalous) * (1 - row["decision"]["test_fpr"]))
        passed = round(n_anomalous * (1 - row["decision"]["test_tpr"]))
        expected = 2 * kept / (kept + row["n_test"] - n_anomalous + passed)
        assert row["f1_target_decision"] == {row["default_score"]: pytest.approx(expected, abs=1e-5)}
        assert row["test_sets"]["50%"]["f1_target_decision"] == row["f1_target_decision"]
        assert set(row["test_sets"]["10%"]["f1_target_decision"]) == {row["default_score"]}
    assert alocc["test_sets"]["50%"]["auroc"] == alocc["auroc"] and alocc["n_test"] == 200
    md, _ = write_report([out.path], tmp_path / "rep")
    text = md.read_text()
    assert "F1 against the share of outliers" in text and "(every image called target) |  |  | 0.9474" in text
    assert f"| rec | at calibrated τ | {ae['test_sets']['10%']['f1_target_decision']['rec']:.4f} |" in text
    assert (tmp_path / "rep" / "fashion-mnist-mini-outlier-ratio-f1-vs-outliers.png").is_file()


def test_noisy_mnist_cells_give_known_anomalies_to_ada_and_the_report_finds_table_3(tmp_path):
    tiny_ada = {"epochs": 1, "widths": [4, 4, 8], "discriminator_widths": [4, 4, 8, 8, 8], "latent_dim": 4,
                "kernel": 3, "train_per_class": 16, "test_per_class": 6, "canvas": 40, "size_range": [20, 28]}
    cells = [*make_cells(["ada"], "fashion-mnist-mini", "noisy-mnist", [0], [0], "paper", tiny_ada),
             *make_cells(["ada"], "fashion-mnist-mini", "noisy-mnist", [0], [0], "paper", {**tiny_ada, "known_class": 1})]
    out = ResultsFile(tmp_path / "r.jsonl")
    assert run_grid(cells, out) == 0
    rows = read_results(out.path)
    self_sup, semi = sorted(rows, key=lambda r: r["n_known_anomalies"])
    assert self_sup["n_known_anomalies"] == 0 and semi["n_known_anomalies"] == 16
    assert semi["split_info"]["known_class"] == 1 and semi["n_train"] == 16 and semi["n_test"] == 60
    assert semi["params"]["widths"] == [4, 4, 8] and "known_class" not in semi["params"]
    # the report compares with the paper by dataset name: present the runs as MNIST's
    path = tmp_path / "as-mnist.jsonl"
    path.write_text("".join(json.dumps({**r, "dataset": "mnist"}) + "\n" for r in rows))
    text = write_report([path], tmp_path / "rep")[0].read_text()
    sections = [part for part in text.split("\n## ") if part.startswith("ada on mnist")]
    semi_text = next(part for part in sections if '"known_class": 1' in part)
    self_text = next(part for part in sections if "known_class" not in part)
    assert "ADA CAM+D_G+D_ano (known 1)" in semi_text and "0.9300" in semi_text and "known 3" not in semi_text
    assert "ADA CAM+D (ADA Table 1)" in self_text and "Table 3" not in self_text


def test_evaluate_keeps_the_callers_callbacks(mini):
    """`evaluate` adds its own per-epoch callback only for `track_epochs`, beside the caller's."""
    from oneclass.data.protocols import make_split
    from oneclass.evaluation import evaluate

    seen = []
    det = oneclass.create("ae", **{**TINY, "epochs": 2})
    mine = [EveryEpoch(seen.append)]
    evaluate(det, make_split("one-vs-rest", mini, 1), dataset="fashion-mnist-mini", normal_class=1, callbacks=mine)
    assert seen == [1, 2]
    result = evaluate(det, make_split("one-vs-rest", mini, 1), dataset="fashion-mnist-mini", normal_class=1,
                      track_epochs=True, callbacks=mine)
    assert len(result.epoch_test_auroc) == 2 and seen == [1, 2, 1, 2]  # beside the tracking


def test_bench_takes_every_protocol_option_its_signature_has(tmp_path):
    """The MemAE protocol's `anomaly_fraction` and `pool` (documented in docs/protocols.md) reach it through --set;
    the options are read from the protocols' signatures, not from a hand-kept list that had lost these two."""
    results = tmp_path / "r.jsonl"
    assert main(["bench", "--methods", "ocsvm", "--dataset", "fashion-mnist-mini", "--protocol", "memae", "--classes",
                 "0", "--set", "anomaly_fraction=0.2", "--set", "pool=false", "--out", str(results)]) == 0
    row = json.loads(results.read_text().splitlines()[0])
    assert row["split_info"]["anomaly_fraction"] == pytest.approx(0.2, abs=0.01)


def test_epochs_caps_every_training_phase():
    """`--epochs 3` bounds Deep SVDD's pretraining and G2D's detector too, unless they are set themselves."""
    from oneclass.settings import resolve

    assert resolve("dsvdd", "paper", {"epochs": 3}, 0)[0]["ae_epochs"] == 3  # was 150 whatever --epochs said
    assert resolve("dsvdd", "paper", {"epochs": 3, "ae_epochs": 7}, 0)[0]["ae_epochs"] == 7
    assert resolve("g2d", "fast", {"epochs": 40}, 0)[0]["detector_epochs"] == 5  # the preset's 5 is below the cap
    assert "ae_epochs" not in resolve("dsvdd", "fast", {}, 0)[0]
