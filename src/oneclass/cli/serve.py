"""`oneclass serve`: saved models behind the page and the JSON API of `oneclass.serve`, under uvicorn."""

from __future__ import annotations

import argparse
import socket

from oneclass.cli.common import add_device_flag
from oneclass.errors import OneClassError
from oneclass.params import integer, number
from oneclass.settings import MAX_IMAGES, MAX_UPLOAD_MB


def cmd_serve(args: argparse.Namespace) -> None:
    """Serve saved models over HTTP: a page at / to score images from a browser, and the JSON API (GET /health,
    GET /models, POST /score with multipart fields `files` and an optional `model`). Requests addressed to other
    names than localhost, the --host address and --allow-host's are refused (421)."""
    try:
        import uvicorn

        from oneclass.serve import create_app, guarded_protocol, load_models
    except ImportError as exc:
        raise OneClassError(f"serve needs FastAPI and uvicorn ({exc.name} is missing): "
                            "pip install -e '.[serve]' in the clone") from None
    number(0, low_open=True).check("--max-upload-mb", args.max_upload_mb)
    integer(1).check("--max-images", args.max_images)
    integer(1, 65535).check("--port", args.port)
    check_can_listen(args.host, args.port)
    models = load_models(args.model, device=args.device)
    app = create_app(models, max_upload_mb=args.max_upload_mb, max_images=args.max_images,
                     hosts=(args.host, *args.allow_host))
    for m in models.values():
        print(f"model {m.name}: {m.detector.name}, input {tuple(m.detector.input_shape_)}", flush=True)
    print(f"serving on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_keep_alive=5, http=guarded_protocol())


def check_can_listen(host: str, port: int) -> None:
    """Refuse, before loading anything, an address this machine cannot listen on (a port in use, a host name that
    does not resolve or is not this machine's)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise OneClassError(f"--host {host}: not an address this machine can listen on ({exc}); "
                            "use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a closed socket's wait is no bar
        try:
            probe.bind(address)
        except OSError as exc:
            raise OneClassError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); choose "
                                "another --port, or stop what is using it") from None


def add_parsers(sub: argparse._SubParsersAction, methods: list[str]) -> None:
    """The parser of `serve`."""
    p = sub.add_parser("serve", help="serve saved models over HTTP: a page to score images and a JSON API",
                       description=cmd_serve.__doc__)
    p.add_argument("--model", required=True, action="append", help="model folder (repeatable; the first is the default)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="a host name requests may be addressed to besides localhost and --host (repeatable), e.g. the "
                        "machine's name when serving on 0.0.0.0")
    p.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_MB, help="largest request body in MB (default: %(default)s)")
    p.add_argument("--max-images", type=int, default=MAX_IMAGES, help="most images in one request (default: %(default)s)")
    add_device_flag(p, "as trained, else auto")
    p.set_defaults(func=cmd_serve)
