"""Video: the UCSD reader, the generated scenes, patches and frame scores, the ucsd-patches protocol, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import oneclass
from oneclass.bench.harness import harness
from oneclass.cli import main
from oneclass.data.protocols import make_split
from oneclass.data.synthetic import label_ranges, moving_scenes, write_ucsd_tree
from oneclass.data.ucsd import parse_gt_ranges, read_ucsd
from oneclass.data.video import extract_patches, frame_scores, heatmaps, patch_grid, patch_origins, read_video
from oneclass.errors import DataError
from oneclass.metrics import auroc


@pytest.fixture(scope="module")
def scenes():
    return moving_scenes(n_train=2, n_test=3, n_frames=40, shape=(60, 90), pedestrians=2, seed=1)


@pytest.fixture(scope="module")
def tree(scenes, tmp_path_factory):
    """The scenes in the UCSD layout, with the junk files the real archive carries."""
    root = write_ucsd_tree(scenes, tmp_path_factory.mktemp("ucsd"), "UCSDped2")
    (root / "Train" / ".DS_Store").write_bytes(b"\0junk")
    (root / "Train" / "Train001" / "._001.tif").write_bytes(b"\0resource fork")
    (root / "Test" / "UCSDped2.m~").write_text("TestVideoFile{end+1}.gt_frame = [1:2];\n")
    return root


def test_parse_gt_ranges_reads_several_ranges_per_line():
    text = "TestVideoFile = {};\nTestVideoFile{end+1}.gt_frame = [61:180];\n% comment\n" \
           "TestVideoFile{end+1}.gt_frame = [5:90, 140:200];\nTestVideoFile{end+1}.gt_frame = [7];\n"
    assert parse_gt_ranges(text) == [[(61, 180)], [(5, 90), (140, 200)], [(7, 7)]]
    with pytest.raises(DataError, match="no `gt_frame"):
        parse_gt_ranges("TestVideoFile = {};")
    with pytest.raises(DataError, match="bad frame range"):
        parse_gt_ranges("TestVideoFile{end+1}.gt_frame = [90:5];")


def test_generated_scenes_are_abnormal_while_an_odd_object_is_visible(scenes):
    for clip in scenes.test:
        assert clip.frames.dtype == np.uint8 and clip.frames.shape == (40, 60, 90)
        np.testing.assert_array_equal(clip.labels, clip.masks.reshape(40, -1).any(1))
        assert 0 < clip.labels.sum() < 40
    assert len(label_ranges(scenes.test[2].labels)) == 2  # cyclist, then a cart after it has left
    assert all(c.labels is None and c.masks is None for c in scenes.train)


def test_read_ucsd_round_trip_ignores_junk(scenes, tree):
    back = read_ucsd(tree.parent)  # the parent: the reader finds UCSDped2/ inside
    assert [c.name for c in back.train] == ["Train001", "Train002"]
    assert [c.name for c in back.test] == ["Test001", "Test002", "Test003"]
    for a, b in zip(scenes.train + scenes.test, back.train + back.test, strict=True):
        np.testing.assert_array_equal(a.frames, b.frames)
    for a, b in zip(scenes.test, back.test, strict=True):
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.masks, b.masks)
    masks = read_ucsd(tree, labels="masks")
    for a, b in zip(back.test, masks.test, strict=True):
        np.testing.assert_array_equal(a.labels, b.labels)
    line = (tree / "Test" / "UCSDped2.m").read_text().splitlines()[3]
    assert line.startswith("TestVideoFile{end+1}.gt_frame = [") and line.count(":") == 2  # two ranges


def test_read_ucsd_errors_name_the_file(tree, tmp_path):
    m_file = tree / "Test" / "UCSDped2.m"
    text = m_file.read_text()
    try:
        m_file.write_text("\n".join(text.splitlines()[:-1]) + "\n")
        with pytest.raises(DataError, match=r"UCSDped2\.m: 2 gt_frame lines for 3 test clips"):
            read_ucsd(tree)
    finally:
        m_file.write_text(text)
    with pytest.raises(DataError, match="Train/ and Test/"):
        read_ucsd(tmp_path)


def test_patches_cover_the_frame_and_match_slices():
    assert patch_origins(60, 30, 25).tolist() == [0, 25, 30]
    assert patch_origins(55, 30, 25).tolist() == [0, 25]
    frames = np.random.default_rng(0).integers(0, 255, (3, 60, 90), dtype=np.uint8)
    patches = extract_patches(frames, 30, 25)
    grid = patch_grid((60, 90), 30, 25)
    assert patches.shape == (3, len(grid), 30, 30) and len(grid) == 3 * 4
    for p, (r, c) in enumerate(grid):
        np.testing.assert_array_equal(patches[:, p], frames[:, r:r + 30, c:c + 30])


def test_heatmaps_take_the_highest_covering_patch():
    scores = np.arange(12, dtype=np.float32)[None]  # one frame, 3 × 4 patches, row-major
    heat = heatmaps(scores, (60, 90), 30, 25)[0]
    assert heat[0, 0] == 0 and heat[59, 89] == 11
    assert heat[27, 27] == 5  # covered by patches 0, 1, 4, 5
    assert np.isfinite(heat).all()


def test_frame_scores_max_then_optional_smoothing():
    patch_scores = np.array([[0.0, 1.0], [3.0, 2.0], [0.0, 0.0]])
    np.testing.assert_allclose(frame_scores(patch_scores), [1, 3, 0])
    np.testing.assert_allclose(frame_scores(patch_scores, smooth=3), [2, 4 / 3, 1.5])


def test_ucsd_patches_protocol_maps_patch_scores_to_frames(scenes):
    split = make_split("ucsd-patches", scenes, 0)
    n_frames = sum(len(c.frames) for c in scenes.test)
    per_frame = split.frames.patches_per_frame
    assert split.x_test.shape == (n_frames * per_frame, 30, 30) and split.y_test.shape == (n_frames,)
    every = make_split("ucsd-patches", scenes, 0, train_patches="all")
    assert 0 < len(split.x_train) < len(every.x_train) == 2 * 40 * per_frame
    # a patch's score is its mean grey level: frame scores are the brightest patch of each frame
    frame = split.frames.frame_scores(split.x_test.reshape(len(split.x_test), -1).mean(1))
    expected = extract_patches(scenes.test[1].frames, 30, 25).mean(axis=(2, 3)).max(1)
    np.testing.assert_allclose(frame[40:80], expected, rtol=1e-6)
    with pytest.raises(DataError, match="go together"):
        make_split("one-vs-rest", scenes, 0)


def test_read_video_decodes_a_file_and_a_frame_folder(tree, tmp_path):
    av = pytest.importorskip("av")
    frames = read_video(tree / "Train" / "Train001")
    assert frames.shape == (40, 60, 90)
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 90, 60, "yuv420p"
        stream.options = {"crf": "0"}
        for f in frames[:12]:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.repeat(f[..., None], 3, 2), format="rgb24")))
        out.mux(stream.encode(None))
    decoded = read_video(path)
    assert decoded.shape == (12, 60, 90)
    assert np.abs(decoded.astype(int) - frames[:12]).mean() < 3  # lossless luma up to RGB↔YUV rounding
    with pytest.raises(DataError, match="not a readable video"):
        read_video(tree / "Test" / "UCSDped2.m")
    import oneclass.data.video as video

    with pytest.MonkeyPatch.context() as patch:  # twelve frames over a limit of five: refused from the header
        patch.setattr(video, "MAX_VIDEO_BYTES", 60 * 90 * 5)
        with pytest.raises(DataError, match=r"clip.mp4: 12 frames of 90×60 take .* GB or more decoded, over"):
            read_video(path)


def test_cli_train_video_then_score_video(tree, tmp_path, capsys):
    model = tmp_path / "model"
    assert main(["train-video", "--method", "ocsvm", str(tree / "Train" / "Train001"), str(tree / "Train" / "Train002"),
                 "--out", str(model)]) == 0
    assert oneclass.load(model / "detector").input_shape_ == (1, 30, 30)
    out = tmp_path / "scores"
    assert main(["score-video", "--model", str(model), str(tree / "Test" / "Test001"), "--out", str(out)]) == 0
    lines = (out / "frame_scores.csv").read_text().splitlines()
    assert lines[0] == "frame,score" and len(lines) == 41
    assert (out / "video.png").stat().st_size > 10_000
    assert "40 frames scored" in capsys.readouterr().out
    assert main(["score-video", "--model", str(model), str(tmp_path / "missing.mp4")]) == 2
    assert "missing.mp4: no such video file or frame folder" in capsys.readouterr().err


def test_demo_video_detects_the_generated_anomalies(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ONECLASS_DATA", str(tmp_path / "data"))
    assert main(["demo", "--video", "--methods", "ocsvm", "--out", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("ocsvm "))
    assert float(row.split()[2]) > 0.75  # frame AUROC of the one-class SVM on the scenes' patches
    assert (tmp_path / "data" / "moving-scenes" / "UCSDsynth" / "Test" / "UCSDsynth.m").is_file()
    assert (tmp_path / "report" / "report.html").is_file()


@pytest.mark.parametrize("method", sorted(oneclass.available()))
def test_every_method_scores_frames_from_patches(method, scenes):
    """The same Detector contract on 30×30 grey patches: fit on moving patches, one finite score per test frame;
    `track_epochs` records the test AUROC of the frames after every epoch of every method that has epochs."""
    from oneclass.evaluation import evaluate
    from tests.contract.test_methods import FAST

    split = make_split("ucsd-patches", scenes, 0, max_train_patches=128)
    # as `bench` trains (track_epochs is its option): the whole training split, OLED scaled over the scored set
    det = oneclass.create(method, seed=0, **FAST[method], **harness(method).benchmark_settings)
    result = evaluate(det, split, dataset="moving-scenes", normal_class=0, track_epochs=True)
    scores, aucs = result.scores, result.auroc
    assert set(scores) == set(det.score_names)
    # ALOCC's second phase (D fine-tuned) is tracked after its adversarial epochs
    phase_two = det.fit_info_.get("phase_two", {}).get("epochs", 0)
    assert len(result.epoch_test_auroc) == (result.epochs or 0) + phase_two
    assert (method == "ocsvm") == (result.epochs is None) and (method == "alocc") == (phase_two > 0)
    if result.epochs and result.selection == "none":  # the last epoch's record is the model scored at the end
        assert result.epoch_test_auroc[-1] == aucs[det.default_score]
    patch_scores = det.score(split.x_test)
    for name, values in scores.items():
        assert values.shape == split.y_test.shape and np.isfinite(values).all(), name
        # a frame's score is its most anomalous patch, and the AUROC is that of the frame scores
        per_frame = patch_scores[name].reshape(len(values), split.frames.patches_per_frame).max(1)
        np.testing.assert_allclose(values, per_frame, rtol=1e-6, err_msg=name)
        assert aucs[name] == pytest.approx(auroc(split.y_test, values), abs=5e-6)  # rounded to 5 decimals


def test_bench_on_a_ucsd_tree_reports_frames_beside_the_papers(scenes, tmp_path):
    """`--dataset ucsd-ped2` finds the UCSD layout under the data root; the lines are per frame; the report puts
    ADACL's published Ped2 AUROC and EER beside ours."""
    write_ucsd_tree(scenes, tmp_path / "data" / "ucsd-ped2", "UCSDped2")
    results = tmp_path / "r.jsonl"
    assert main(["bench", "--methods", "adacl", "--dataset", "ucsd-ped2", "--protocol", "ucsd-patches", "--epochs", "1",
                 "--data-root", str(tmp_path / "data"), "--out", str(results)]) == 0
    row = json.loads(results.read_text())
    assert row["n_test"] == 3 * 40 and row["split_info"]["patches_per_frame"] == 12
    # the EER is where the frame ROC crosses FPR = 1 - TPR (the curve is stored on an FPR grid of step 0.01)
    fpr, tpr = np.linspace(0, 1, 101), np.array(row["curves"]["roc_tpr"])
    assert row["eer"]["regression"] == pytest.approx(fpr[np.argmin(np.abs(tpr - (1 - fpr)))], abs=0.02)
    assert main(["report", str(results), "--out", str(tmp_path / "report")]) == 0
    table = (tmp_path / "report" / "report.md").read_text().split("## Frame level: ucsd-ped2 (ucsd-patches)")[1]
    line = next(x for x in table.splitlines() if x.startswith("| adacl"))
    assert "| regression (default) |" in line and "| 0.9840 | 0.0700 |" in line


def test_track_epochs_on_video_records_frame_aurocs(scenes, tmp_path):
    """--track-epochs under ucsd-patches scores patches, then frames, after each epoch (it compared patch scores
    with frame labels and crashed); the last epoch's record is the frame AUROC of the line."""
    write_ucsd_tree(scenes, tmp_path / "data" / "ucsd-ped2", "UCSDped2")
    results = tmp_path / "r.jsonl"
    assert main(["bench", "--methods", "adacl", "--dataset", "ucsd-ped2", "--protocol", "ucsd-patches", "--epochs", "2",
                 "--track-epochs", "--data-root", str(tmp_path / "data"), "--out", str(results)]) == 0
    row = json.loads(results.read_text())
    assert len(row["epoch_test_auroc"]) == 2 and row["n_test"] == 3 * 40
    assert row["epoch_test_auroc"][row["best_epoch"] - 1] == pytest.approx(row["auroc"]["regression"], abs=1e-5)


def test_a_frame_too_large_is_refused_naming_it(tmp_path):
    from tests.integration.test_bad_inputs import _png_claiming

    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(folder / "001.png")
    _png_claiming(folder / "002.png", 30000, 30000)
    with pytest.raises(DataError, match="002.png: the image claims more than 50,000,000 pixels"):
        read_video(folder)


def test_train_takes_the_patch_options_through_set_as_bench_does(scenes, tmp_path):
    """`train --set patch_size=20 --set stride=20` reaches the ucsd-patches protocol (it used to be refused as an
    unknown hyper-parameter); the line in metrics.json records the patches the protocol cut."""
    write_ucsd_tree(scenes, tmp_path / "data" / "ucsd-ped2", "UCSDped2")
    out = tmp_path / "model"
    assert main(["train", "--method", "ocsvm", "--dataset", "ucsd-ped2", "--protocol", "ucsd-patches", "--normal-class",
                 "0", "--set", "patch_size=20", "--set", "stride=20", "--data-root", str(tmp_path / "data"),
                 "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split_info"]["patch_size"] == 20 and metrics["split_info"]["stride"] == 20
    assert oneclass.load(out).input_shape_ == (1, 20, 20)
