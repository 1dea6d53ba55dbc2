"""Diffusion Playground: the page. Each tab is a module of playground/ui/ (its layout and handlers); the maths is in playground/.

    python app.py                       # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080 --share
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=8080 python app.py

``demo`` is importable without launching (tests do ``from app import demo``). Public API endpoints
(see their docstrings): ``/forward`` (playground/ui/forward.py: forward_api), ``/sample``
(playground/ui/sampling.py: sample_compare), ``/train`` (playground/ui/training.py: train_run).
Every other event is private widget wiring.
"""
from __future__ import annotations

import argparse
import os

from playground.ui import zerogpu  # noqa: F401  (first: on ZeroGPU the spaces package must load before torch)

import gradio as gr

from playground.ui import TABS, classroom
from playground.ui.common import LIMITS, Page

CSS = """
.gradio-container { max-width: 1500px !important; }
.pixelated img { image-rendering: pixelated; }
.explain { color: var(--body-text-color-subdued); }
.numbers { font-size: 1.15em; }
.status { font-size: 1.05em; min-height: 3.2em; }
#title h1 { margin-bottom: 0; }
""" + classroom.PRESENT_CSS + "".join(getattr(tab, "CSS", "") for tab in TABS)

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="pink", text_size="lg", radius_size="md")

INTRO = (
    "# Diffusion Playground\n"
    "Watch an image dissolve into noise, sample digits back out of noise with DDPM and DDIM side by side, "
    "train a small model on MNIST, edit your own drawings, watch a whole 2-D distribution and its score field "
    "move, and read the maths behind each control."
)

with gr.Blocks(title="Diffusion Playground", delete_cache=(1800, 3600)) as demo:
    gr.Markdown(INTRO, elem_id="title")
    session_models = gr.State({})  # models trained in this browser session: {label: checkpoint path}
    page = Page(demo=demo, tabs=None, session_models=session_models)
    classroom.build_header(page)  # presenter mode, copy link, shortcuts line, deep-link note
    with gr.Tabs(selected=TABS[0].TAB_ID) as page.tabs:
        for number, tab in enumerate(TABS, start=1):
            page.current_tab = tab.TAB_ID
            with gr.Tab(f"{number} · {tab.TAB_TITLE}", id=tab.TAB_ID):
                tab.build(page)
    classroom.finish(page, [tab.TAB_ID for tab in TABS])  # deep links, then each tab's first-load work; keys


def main(argv: list[str] | None = None) -> None:
    """Parse --host/--port/--share (or GRADIO_SERVER_NAME / GRADIO_SERVER_PORT / GRADIO_SHARE) and serve."""
    ap = argparse.ArgumentParser(description="Diffusion Playground")
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
                    help="interface to bind (default 127.0.0.1; a Space sets GRADIO_SERVER_NAME=0.0.0.0)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860))
    ap.add_argument("--share", action="store_true", default=os.environ.get("GRADIO_SHARE", "").lower() in ("1", "true", "yes"),
                    help="create a public gradio.live link")
    args = ap.parse_args(argv)
    # A class of 60 opening the page at once stays well under max_size; ZeroGPU would otherwise set it to 1.
    demo.queue(max_size=LIMITS.queue_size).launch(
        server_name=args.host, server_port=args.port, share=args.share, theme=THEME, css=CSS, show_error=True,
        max_file_size=LIMITS.max_upload_bytes,
    )


if __name__ == "__main__":
    main()
