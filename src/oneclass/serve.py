"""`oneclass serve`: score uploaded images over HTTP with saved models, and a page to do it from a browser.

`create_app(models)` builds the FastAPI application (the tests drive it with its TestClient); `oneclass serve` runs
it with uvicorn. Requests never name a path: models are loaded once, at start, from the folders given on the
command line, and uploads are decoded in memory, off the event loop (so /health answers while images decode), at
most `max_queue` requests at a time (503 with Retry-After beyond). Only requests addressed to the bound host or a
localhost name are answered (DNS rebinding: a page elsewhere cannot reach a local server through its own name).
Every bad request gets a 4xx status with a JSON message {"detail": ...}; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import io
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from oneclass.core import Detector, Scores, load
from oneclass.core.results import results_from
from oneclass.data.images import conversion_note, decode_image, image_header
from oneclass.errors import DataError, ImageTooLargeError, OneClassError, UnreadableImageError
from oneclass.overlay import heatmap_overlay, png_bytes
from oneclass.settings import MAX_IMAGES, MAX_UPLOAD_MB

#: the host names a request may be addressed to, besides the address the server is bound to and --allow-host's
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
#: requests decoded or scored at once (beyond them: 503, retry later); their uploads are held in memory
MAX_QUEUE = 8
#: seconds a connection may take to send a request's headers, and a request its whole body (slow clients are dropped)
HEADER_TIMEOUT, BODY_TIMEOUT = 10.0, 60.0
#: the most memory decoding one upload may take (its pixels in their own mode, then converted at full size), in MB;
#: a request's images are decoded one after another, so this bounds a request's decoding too
MAX_DECODE_MB = 256.0
#: bytes a pixel takes in each Pillow mode (others: 4)
MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "I;16": 2, "I;16B": 2, "I;16L": 2, "RGB": 3, "YCbCr": 3,
              "LAB": 3, "HSV": 3}


@dataclass
class _Job:
    """One request's images waiting to go through the network, and what came out."""

    images: np.ndarray
    done: threading.Event = field(default_factory=threading.Event)
    outputs: tuple[Scores, np.ndarray | None] | None = None
    error: Exception | None = None


@dataclass
class ServedModel:
    """A loaded detector under the name requests use. Requests that arrive while the network is busy are scored
    together in its next pass: whichever waiting request gets the model's lock takes every pending request's
    images as one batch (PyTorch already spreads one batch over the CPU's cores)."""

    name: str
    detector: Detector
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: list[_Job] = field(default_factory=list)
    pending_lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict[str, Any]:
        """What GET /models says of the model: method, input shape, scores, threshold, capabilities."""
        det = self.detector
        return {"name": self.name, "method": det.name, "input_shape": list(det.input_shape_),
                "default_score": det.default_score, "scores": list(det.score_names),
                "threshold": None if det.decision_ is None else det.decision_.to_json(), "heatmaps": det.has_anomaly_maps,
                "capabilities": det.capabilities.to_json()}

    def _outputs(self, images: np.ndarray) -> tuple[Scores, np.ndarray | None]:
        """The scores (and maps, where the method has them) of `images`, computed with other requests' images."""
        job = _Job(images)
        with self.pending_lock:
            self.pending.append(job)
        with self.lock:
            if not job.done.is_set():
                with self.pending_lock:
                    jobs, self.pending = self.pending, []
                try:
                    batch = np.concatenate([j.images for j in jobs])
                    scores, maps = self.detector.score_with_maps(batch)
                    start = 0
                    for j in jobs:
                        part = slice(start, start + len(j.images))
                        j.outputs = (Scores({k: v[part] for k, v in scores.items()}, scores.default_name),
                                     None if maps is None else maps[part])
                        start = part.stop
                except Exception as exc:  # every request of the batch gets the error  # noqa: BLE001
                    for j in jobs:
                        j.error = exc
                finally:
                    for j in jobs:
                        j.done.set()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.outputs

    def score(self, images: np.ndarray, names: list[str], notes: list[str | None] | None = None) -> list[dict[str, Any]]:
        """Per image its result (`ImageResult.to_json`, with what was converted to give it the model's input) and
        heatmap overlay (base64 PNG, where the method has maps)."""
        scores, maps = self._outputs(images)
        out = []
        for image, result in zip(images, results_from(scores, maps, self.detector.decision_, names, notes), strict=True):
            heatmap = None
            if result.map is not None:
                heatmap = base64.b64encode(png_bytes(heatmap_overlay(image, result.map))).decode("ascii")
            out.append({**result.to_json(), "heatmap_png": heatmap})
        return out


class RequestError(Exception):
    """A request the service refuses: its HTTP status, the message it answers with, and any headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


def load_models(folders: list[str | Path], device: str | None = None) -> dict[str, ServedModel]:
    """The models of `oneclass serve --model`, named after their folders (made unique by a suffix)."""
    models: dict[str, ServedModel] = {}
    for folder in folders:
        base = Path(folder).resolve().name or "model"
        name, n = base, 2
        while name in models:
            name, n = f"{base}-{n}", n + 1
        models[name] = ServedModel(name, load(folder, device=device))
    return models


def guarded_protocol(header_timeout: float = HEADER_TIMEOUT) -> type:
    """uvicorn's HTTP/1.1 protocol, closing a connection that has not sent a whole request's headers within
    `header_timeout` seconds of opening or of its last response (uvicorn alone keeps such a connection forever)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:  # noqa: ANN001
            super().connection_made(transport)
            self._deadline = None
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            self._deadline.cancel()

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _headers_too_slow(self) -> None:
            if self.cycle is None or self.cycle.response_complete:  # still waiting for a request's headers
                self.transport.close()

    return GuardedH11Protocol


def create_app(models: dict[str, ServedModel], *, max_upload_mb: float = MAX_UPLOAD_MB, max_images: int = MAX_IMAGES,
               hosts: tuple[str, ...] = (), max_queue: int = MAX_QUEUE, body_timeout: float = BODY_TIMEOUT):
    """The FastAPI application serving `models` (the first is the default), with its limits; it answers requests
    addressed to a localhost name or one of `hosts` (the bound address, --allow-host), and 421 to others."""
    if not models:
        raise OneClassError("serve: no models; give at least one --model DIR")
    default = next(iter(models))
    app = FastAPI(title="oneclass", version=_version(), docs_url=None, redoc_url=None)
    _answer_only(app, {*LOCAL_HOSTS, *(h.lower() for h in hosts)})
    busy = {"requests": 0}

    @app.exception_handler(RequestError)
    async def request_error(_request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return resources.files("oneclass").joinpath("assets/serve.html").read_text(encoding="utf-8")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "models": len(models)}

    @app.get("/models")
    def list_models() -> dict[str, Any]:
        return {"default": default, "models": [m.describe() for m in models.values()],
                "limits": {"max_upload_mb": max_upload_mb, "max_images": max_images}}

    @app.post("/score")
    async def score(request: Request) -> dict[str, Any]:
        if busy["requests"] >= max_queue:  # the body is read and dropped, so that the client hears the answer
            await _drain(request, max_upload_mb)
            raise RequestError(503, f"busy: {max_queue} requests are being scored; retry in a second",
                               headers={"Retry-After": "1"})
        busy["requests"] += 1  # one event loop: no other coroutine runs between the test and the count
        try:
            form = await _parse_form(request, await _read_body(request, max_upload_mb, body_timeout), max_images)
            name = form.get("model") or default
            if not isinstance(name, str) or name not in models:
                raise RequestError(404, f"unknown model {str(name)[:80]!r}; the models are {', '.join(models)}")
            files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
            if not files:
                raise RequestError(400, "no images: send them as multipart fields named 'files'")
            if len(files) > max_images:
                raise RequestError(413, f"{len(files)} images in one request; the limit is {max_images}")
            uploads = [(_label(f.filename, i), await f.read()) for i, f in enumerate(files)]
            served = models[name]
            results = await run_in_threadpool(_decode_and_score, served, uploads)
        finally:
            busy["requests"] -= 1
        return {"model": name, "images": results}

    return app


def _answer_only(app: FastAPI, allowed: set[str]) -> None:
    """Refuse (421) a request whose Host header names none of `allowed`."""

    @app.middleware("http")
    async def addressed_to_us(request: Request, call_next):
        host = host_name(request.headers.get("host", ""))
        if host not in allowed:
            return JSONResponse({"detail": f"this server does not answer requests addressed to {host[:80]!r}; start it "
                                           "with --allow-host NAME to serve that name"}, status_code=421)
        return await call_next(request)


async def _read_body(request: Request, max_upload_mb: float, timeout: float) -> bytes:
    """The request's body, refused (413) as soon as it is over the limit, whatever its declared length says, and
    (408) when it takes more than `timeout` seconds to arrive."""
    limit = int(max_upload_mb * 1024 * 1024)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the upload is {int(declared) / 2**20:.3g} MB; the limit is {max_upload_mb:g} MB")
    body = bytearray()

    async def receive() -> None:
        async for chunk in request.stream():  # counted as it arrives: a missing or false length cannot get past
            body.extend(chunk)
            if len(body) > limit:
                raise RequestError(413, f"the upload is over the {max_upload_mb:g} MB limit")

    try:
        await asyncio.wait_for(receive(), timeout)
    except ClientDisconnect:  # the body ended before its declared length, or the client left
        raise RequestError(400, "the upload ended before its declared Content-Length") from None
    except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11 on
        raise RequestError(408, f"the upload took more than {timeout:g} s to arrive; send it faster") from None
    return bytes(body)


async def _drain(request: Request, max_upload_mb: float) -> None:
    """Read a request's body without keeping it (up to the upload limit)."""
    seen, limit = 0, int(max_upload_mb * 1024 * 1024)
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                break
    except ClientDisconnect:
        pass


async def _parse_form(request: Request, body: bytes, max_files: int):
    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        raise RequestError(415, "send the images as multipart/form-data, in fields named 'files'")

    async def stream():
        yield body

    try:
        return await MultiPartParser(request.headers, stream(), max_files=max_files + 1, max_fields=16).parse()
    except MultiPartException as exc:
        raise RequestError(413 if "many" in str(exc).lower() else 400, f"bad multipart upload: {exc}") from None


def _decode_and_score(served: ServedModel, uploads: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """In a worker thread: the uploads (name, bytes) decoded at the model's size and channels, with what was
    converted (`conversion_note`), then scored; an image the model cannot take is refused with the status its
    error's type maps to (415 unreadable, 413 too large, else 400)."""
    c, h, w = served.detector.input_shape_
    images, notes = [], []
    for label, data in uploads:
        try:
            if not data:
                raise DataError(f"{label}: empty file")
            header = image_header(io.BytesIO(data), label)
            needed = header.height * header.width * (MODE_BYTES.get(header.mode, 4) + c) / 2**20
            if needed > MAX_DECODE_MB:
                raise ImageTooLargeError(f"{label}: decoding its {header.width}×{header.height} {header.mode} pixels "
                                         f"would take {needed:.0f} MB, over the {MAX_DECODE_MB:g} MB an upload may use; "
                                         "send it smaller")
            images.append(decode_image(data, label, size=(h, w), channels=c))
            notes.append(conversion_note(header, (h, w), c))
        except DataError as exc:
            status = {UnreadableImageError: 415, ImageTooLargeError: 413}.get(type(exc), 400)
            raise RequestError(status, str(exc)) from None
    return served.score(np.stack(images), [label for label, _ in uploads], notes)


def host_name(header: str) -> str:
    """The host name of a Host header, without its port, lower-case: "[::1]:8000" -> "[::1]", "Example:80" ->
    "example"."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _label(filename: str | None, index: int) -> str:
    """The upload's name for messages and results: its base name only, printable, at most 120 characters."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:120]
    return base or f"image {index + 1}"


def _version() -> str:
    from oneclass import __version__

    return __version__
