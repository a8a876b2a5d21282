"""`oneclass serve`: the JSON API (FastAPI's TestClient), its refusals, and the page driven by a real browser
(playwright with Debian's chromium)."""

from __future__ import annotations

import base64
import csv
import io
import shutil
import socket
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

import oneclass
from oneclass.core import Detector

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from oneclass.serve import create_app, load_models  # noqa: E402


@pytest.fixture(scope="module")
def model_dirs(mini, tmp_path_factory):
    """An ae (with maps and a threshold) and an ocsvm (no maps) trained on trousers, saved."""
    root = tmp_path_factory.mktemp("served")
    trousers = mini["x_train"][mini["y_train"] == 1]
    ae = oneclass.create("ae", epochs=5, batch_size=32, device="cpu").fit(trousers).save(root / "trousers-ae")
    svm = oneclass.create("ocsvm").fit(trousers).save(root / "trousers-svm")
    return [ae, svm]


@pytest.fixture(scope="module")
def client(model_dirs):
    return TestClient(create_app(load_models(model_dirs), max_upload_mb=1, max_images=4), base_url="http://localhost")


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def uploads(mini):
    """A trouser (normal) and a bag (anomalous) from the test split, as PNG files."""
    trouser = mini["x_test"][mini["y_test"] == 1][0]
    bag = mini["x_test"][mini["y_test"] == 8][0]
    return [("files", ("trouser.png", png(trouser), "image/png")), ("files", ("bag.png", png(bag), "image/png"))]


def test_health_and_models(client):
    assert client.get("/health").json() == {"status": "ok", "models": 2}
    info = client.get("/models").json()
    assert info["default"] == "trousers-ae" and [m["name"] for m in info["models"]] == ["trousers-ae", "trousers-svm"]
    ae = info["models"][0]
    assert ae["method"] == "ae" and ae["input_shape"] == [1, 28, 28] and ae["heatmaps"] is True
    assert ae["threshold"]["source"] == "held-out" and ae["threshold"]["fpr"] == 0.05
    assert info["limits"] == {"max_upload_mb": 1, "max_images": 4}


def test_score_batches_the_request_and_matches_the_library(client, uploads, model_dirs, mini, monkeypatch):
    det = oneclass.load(model_dirs[0])
    images = np.stack([mini["x_test"][mini["y_test"] == 1][0], mini["x_test"][mini["y_test"] == 8][0]])
    expected = det.score(images).default
    calls = []
    original = Detector.score_with_maps
    monkeypatch.setattr(Detector, "score_with_maps", lambda self, x: calls.append(len(x)) or original(self, x))
    answer = client.post("/score", files=uploads)
    assert answer.status_code == 200
    assert calls == [2]  # one pass through the network for both images
    body = answer.json()
    assert body["model"] == "trousers-ae" and [i["name"] for i in body["images"]] == ["trouser.png", "bag.png"]
    got = np.array([i["default_score"] for i in body["images"]])
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert [i["anomalous"] for i in body["images"]] == det.decide(expected).astype(bool).tolist()
    np.testing.assert_allclose([i["normalised"] for i in body["images"]], det.normalised(expected), rtol=1e-6)
    heat = Image.open(io.BytesIO(base64.b64decode(body["images"][1]["heatmap_png"])))
    assert heat.format == "PNG" and heat.size == (112, 112)


def test_the_model_field_picks_another_model_without_maps(client, uploads):
    body = client.post("/score", files=uploads, data={"model": "trousers-svm"}).json()
    assert body["model"] == "trousers-svm" and all(i["heatmap_png"] is None for i in body["images"])
    assert body["images"][1]["scores"]["svm"] > body["images"][0]["scores"]["svm"]  # the bag is further out


def test_an_upload_not_at_the_models_size_is_scored_and_said_to_be_converted(client, uploads):
    colour = ("files", ("photo.png", png(np.full((60, 50, 3), 200, np.uint8)), "image/png"))
    images = client.post("/score", files=[uploads[0], colour]).json()["images"]
    assert [i["converted"] for i in images] == [None, "resized from 60×50, colour to grey"]


def test_a_colour_model_scores_colour_uploads_as_the_library_does(tmp_path):
    from oneclass.data.defects import make_image

    tiles = np.stack([make_image("tile", np.random.default_rng(i))[0] for i in range(24)])
    det = oneclass.create("ae", epochs=2, widths=(8, 16), latent_dim=8).fit(tiles[:20])
    colour = TestClient(create_app(load_models([det.save(tmp_path / "tiles")])), base_url="http://localhost")
    answer = colour.post("/score", files=[("files", (f"{i}.png", png(x), "image/png")) for i, x in enumerate(tiles[20:])])
    images = answer.json()["images"]
    np.testing.assert_allclose([i["default_score"] for i in images], det.score(tiles[20:]).default, rtol=1e-5)
    assert all(i["converted"] is None for i in images)
    heat = Image.open(io.BytesIO(base64.b64decode(images[0]["heatmap_png"])))
    assert heat.mode == "RGB" and heat.size == (128, 128)


def _huge_png_header() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("request_kwargs, status, fragment", [
    ({"files": [("files", ("notes.txt", b"not an image", "text/plain"))]}, 415, "notes.txt: not a readable image"),
    ({"files": [("files", ("empty.png", b"", "image/png"))]}, 400, "empty.png: empty file"),
    ({"files": [("files", ("huge.png", _huge_png_header(), "image/png"))]}, 413, "pixels"),
    ({"files": [("files", ("a.png", png(np.zeros((28, 28), np.uint8)), "image/png"))] * 5}, 413, "limit is 4"),
    ({"files": [("files", ("big.png", b"\0" * 1_200_000, "image/png"))]}, 413, "1 MB"),
    ({"files": [("files", ("a.png", png(np.zeros((28, 28), np.uint8)), "image/png"))], "data": {"model": "../etc"}},
     404, "unknown model '../etc'"),
    ({"files": [("model", (None, "trousers-ae"))]}, 400, "no images"),  # multipart, but no 'files' field
    ({"content": b"raw bytes"}, 415, "multipart/form-data"),
])
def test_bad_requests_get_a_4xx_and_the_server_keeps_serving(client, uploads, request_kwargs, status, fragment):
    answer = client.post("/score", **request_kwargs)
    assert answer.status_code == status and fragment in answer.json()["detail"], answer.json()
    assert client.post("/score", files=uploads).status_code == 200


def test_too_many_images_for_the_parser_are_refused_too(client):
    many = [("files", ("a.png", b"x", "image/png"))] * 40
    answer = client.post("/score", files=many)
    assert answer.status_code == 413 and "files" in answer.json()["detail"].lower()


def test_an_upload_name_never_reaches_the_file_system(client):
    answer = client.post("/score", files=[("files", ("../../etc/passwd", png(np.zeros((28, 28), np.uint8)), "image/png"))])
    assert answer.status_code == 200 and answer.json()["images"][0]["name"] == "passwd"


def test_unknown_routes_are_json_404(client):
    answer = client.get("/../../etc/passwd")
    assert answer.status_code == 404 and "detail" in answer.json()


# ------------------------------------------------------------------------------------------- the page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def server(model_dirs):
    """The app under uvicorn on a free local port, in a thread; started when the fixture returns."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(load_models(model_dirs)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while thread.is_alive() and not server.started:
        started.wait(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_page_scores_two_uploads_re_decides_with_the_slider_and_downloads_the_csv(server, uploads, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no chromium here (apt-get install chromium; .ci/run installs it)")
    for _, (name, data, _) in uploads:
        (tmp_path / name).write_bytes(data)
    (tmp_path / "bag.png").rename(tmp_path / "=bag.png")  # a name a spreadsheet would run as a formula
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(server)
            page.wait_for_selector("#model option", state="attached")
            page.set_input_files("#files", [str(tmp_path / "trouser.png"), str(tmp_path / "=bag.png")])
            page.wait_for_selector("tr.result >> nth=1")
            rows = page.locator("tr.result")
            assert rows.count() == 2
            assert page.locator("tr.result img[alt=heatmap]").count() == 2
            normalised = [float(rows.nth(i).locator("td").nth(4).inner_text()) for i in range(2)]
            decisions = [rows.nth(i).locator("td").nth(5).inner_text() for i in range(2)]
            assert decisions == ["anomalous" if v > 0.5 else "normal" for v in normalised]
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            with Image.open(tmp_path / "page.png") as shot:  # the screenshot shows the page, not a blank window
                pixels = np.asarray(shot.convert("L"))
            assert shot.size[0] >= 800 and pixels.std() > 10

            page.fill("#threshold", "1")
            assert page.inner_text("#summary") == "0 of 2 anomalous"
            assert page.inner_text("#threshold-value") == "1.00"
            page.fill("#threshold", "0")
            flagged = sum(v > 0 for v in normalised)
            assert page.inner_text("#summary") == f"{flagged} of 2 anomalous"

            with page.expect_download() as download:
                page.click("#download")
            with open(download.value.path(), newline="") as f:
                table = list(csv.reader(f))
        finally:
            browser.close()
    assert table[0] == ["name", "score", "normalised", "anomalous"]
    assert [r[0] for r in table[1:]] == ["trouser.png", "'=bag.png"]
    assert [int(r[3]) for r in table[1:]] == [int(v > 0) for v in normalised]


def test_requests_waiting_for_the_network_share_its_next_pass(model_dirs, mini, monkeypatch):
    from oneclass.serve import ServedModel

    served = ServedModel("ae", oneclass.load(model_dirs[0]))
    images = [mini["x_test"][i * 3:(i + 1) * 3] for i in range(6)]  # six requests of three images
    expected = [served.detector.score(x).default for x in images]
    calls = []
    original = Detector.score_with_maps
    monkeypatch.setattr(Detector, "score_with_maps", lambda self, x: calls.append(len(x)) or original(self, x))
    results = [None] * 6
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, served.score(images[i], ["x"] * 3)))
               for i in range(6)]
    queued = threading.Event()
    with served.lock:  # the network is busy: all six requests queue up
        for t in threads:
            t.start()
        while len(served.pending) < 6:
            queued.wait(0.01)
    for t in threads:
        t.join()
    assert calls == [18]  # one pass for all six
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_allclose([r["default_score"] for r in got], want, rtol=1e-5)


@pytest.mark.parametrize("argv, fragment", [
    (["--model", "{missing}"], "no such model directory"),
    (["--model", "{model}", "--max-images", "0"], "--max-images must be an integer >= 1"),
    (["--model", "{model}", "--port", "70000"], "--port must be an integer in [1, 65535]"),
    (["--model", "{model}", "--max-upload-mb", "-1"], "--max-upload-mb must be a finite number > 0"),
])
def test_serve_refuses_bad_options_before_starting(argv, fragment, model_dirs, tmp_path, capsys):
    from tests.integration.test_bad_inputs import refused

    argv = [a.format(missing=tmp_path / "missing", model=model_dirs[0]) for a in argv]
    refused(["serve", *argv], capsys, fragment, unchanged=[model_dirs[0]])
