"""Load on `oneclass serve` (issue 27): concurrent clients sending single-image requests to a local server.

Trains an `ae` and an `adacl` on the embedded Fashion-MNIST subset (class 0), starts `oneclass serve` with both on
127.0.0.1 (a free port), and for each model sends --requests POST /score requests of --images-per-request 28×28
test images each from --clients threads, bounded by --max-seconds. A request answered 503 (the server's queue is
full) is sent again after its Retry-After, and counted as `busy`. Appends one JSON line per model to --out:
throughput (images/s), p50/p99/max latency (retries included), error and busy counts, the server's resident memory
before and after (VmRSS, Linux), the machine's thread count and the command's settings.

    python benchmarks/serve_load.py --out results/serve-load.jsonl [--clients 8 --requests 1000]
    python benchmarks/serve_load.py --out results/serve-load.jsonl --clients 50 --images-per-request 10 --requests 500
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

import oneclass
from oneclass.data.catalog import load_dataset


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, limit_s: float = 60.0) -> None:
    """Poll /health until the server answers (or the process dies, or `limit_s` passes)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        try:
            if httpx.get(url + "health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not answer within {limit_s:.0f} s")


def rss_mb(pid: int) -> float | None:
    """A process's resident memory in MB (Linux's /proc), None elsewhere."""
    try:
        line = next(li for li in Path(f"/proc/{pid}/status").read_text().splitlines() if li.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None
    return round(int(line.split()[1]) / 1024, 1)


def load(url: str, model: str, pngs: list[bytes], clients: int, requests: int, max_seconds: float,
         per_request: int = 1) -> dict:
    """`requests` requests of `per_request` images from `clients` threads; per request its latency, or an error."""
    latencies: list[float] = []
    errors: list[str] = []
    busy = [0]
    counter = iter(range(requests))
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        with httpx.Client(base_url=url, timeout=30.0) as http:
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                start = time.perf_counter()
                files = [("files", (f"{i}-{k}.png", pngs[(i + k) % len(pngs)], "image/png")) for k in range(per_request)]
                try:
                    answer = http.post("score", data={"model": model}, files=files)
                    while answer.status_code == 503 and time.monotonic() < deadline:  # the queue is full: later
                        with lock:
                            busy[0] += 1
                        time.sleep(float(answer.headers.get("retry-after", 1)))
                        answer = http.post("score", data={"model": model}, files=files)
                    ok = answer.status_code == 200 and len(answer.json()["images"]) == per_request
                    problem = None if ok else f"status {answer.status_code}: {answer.text[:100]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - start
                with lock:
                    (errors.append(problem) if problem else latencies.append(elapsed))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies) + len(errors), "errors": len(errors), "first_errors": errors[:3],
            "busy_retries": busy[0], "wall_seconds": round(wall, 2),
            "images_per_second": round(len(latencies) * per_request / wall, 1),
            "latency_ms": {"p50": round(float(np.percentile(ms, 50)), 1), "p99": round(float(np.percentile(ms, 99)), 1),
                           "max": round(float(ms.max()), 1)} if len(ms) else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--images-per-request", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--out", default="results/serve-load.jsonl")
    args = parser.parse_args()

    data = load_dataset("fashion-mnist-mini")
    normal = data["x_train"][data["y_train"] == 0]
    pngs = []
    for img in data["x_test"][:200]:
        buffer = io.BytesIO()
        Image.fromarray(img).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"ae": oneclass.create("ae", seed=0).fit(normal).save(Path(tmp) / "ae"),
                   "adacl": oneclass.create("adacl", batch_size=32, seed=0).fit(normal).save(Path(tmp) / "adacl")}
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        command = [sys.executable, "-m", "oneclass.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        for folder in folders.values():
            command += ["--model", str(folder)]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            wait_until_up(url, server)
            for name in folders:
                per = args.images_per_request
                load(url, name, pngs, args.clients, min(50, args.requests), args.max_seconds, per)  # warm-up, not kept
                before = rss_mb(server.pid)
                result = load(url, name, pngs, args.clients, args.requests, args.max_seconds, per)
                line = {"benchmark": "serve-load", "model": name, "method": name,
                        "input": f"28x28 PNG, {per} per request", "clients": args.clients, **result,
                        "server_rss_mb": {"before": before, "after": rss_mb(server.pid)}, "cpu_count": os.cpu_count(),
                        "torch_threads": _torch_threads(), "machine": platform.processor() or platform.machine(),
                        "version": oneclass.__version__}
                with Path(args.out).open("a") as f:
                    f.write(json.dumps(line) + "\n")
                print(json.dumps(line), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()
