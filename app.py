"""Diffusion Playground: the entry point. The page is assembled in playground/ui/launch.py (each tab is a module
of playground/ui/, its layout and handlers); the maths is in playground/.

    python app.py                       # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080 --share
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=8080 python app.py

``demo`` (and ``page``, its handle) is importable without launching (tests do ``from app import demo``).
Public API endpoints (see their docstrings): ``/forward`` (playground/ui/forward.py: forward_api), ``/sample``
(playground/ui/sampling.py: sample_compare), ``/train`` (playground/ui/training.py: train_run). Every other
event is private widget wiring.
"""
from __future__ import annotations

import argparse
import os

from playground.ui import zerogpu  # noqa: F401  (first: on ZeroGPU the spaces package must load before torch)
from playground.ui.launch import build_page, launch

page = build_page()
demo = page.demo


def main(argv: list[str] | None = None) -> None:
    """Parse --host/--port/--share (or GRADIO_SERVER_NAME / GRADIO_SERVER_PORT / GRADIO_SHARE) and serve."""
    ap = argparse.ArgumentParser(description="Diffusion Playground")
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
                    help="interface to bind (default 127.0.0.1; a Space sets GRADIO_SERVER_NAME=0.0.0.0)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860))
    ap.add_argument("--share", action="store_true",
                    default=os.environ.get("GRADIO_SHARE", "").lower() in ("1", "true", "yes"),
                    help="create a public gradio.live link")
    args = ap.parse_args(argv)
    launch(demo, server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
