"""The page: title, theme, CSS and the tabs in order (each tab builds itself), and how it is served.

:func:`build_page` / :func:`build_demo` assemble the gr.Blocks; :func:`launch` queues and serves it (``app.py``
calls it with --host/--port/--share; a notebook can call ``launch(inline=True)``).
"""
from __future__ import annotations

import gradio as gr

from playground.ui import classroom, inputs, reveal
from playground.ui.limits import LIMITS
from playground.ui.page import Page
from playground.ui.tabs import TABS

CSS = """
.gradio-container { max-width: 1500px !important; }
.pixelated img { image-rendering: pixelated; }
.explain { color: var(--body-text-color-subdued); }
.numbers { font-size: 1.15em; }
.status { font-size: 1.05em; min-height: 3.2em; }
#title h1 { margin-bottom: 0; }
""" + classroom.PRESENT_CSS + inputs.CSS + reveal.CSS + "".join(getattr(tab, "CSS", "") for tab in TABS)

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="pink", text_size="lg", radius_size="md")

INTRO = (
    "# Diffusion Playground\n"
    "Watch an image dissolve into noise, sample digits back out of noise with DDPM and DDIM side by side, "
    "train a small model on MNIST, edit your own drawings, watch a whole 2-D distribution and its score field "
    "move, and read the maths behind each control."
)


def build_page() -> Page:
    """Build the whole page; returns its :class:`Page` handle (``page.demo`` is the gr.Blocks)."""
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
        inputs.install(demo)  # every numeric box clamps and writes back the value in effect
    return page


def build_demo() -> gr.Blocks:
    """The page as a gr.Blocks, not yet launched."""
    return build_page().demo


def launch(demo: gr.Blocks | None = None, **overrides):
    """Queue and serve ``demo`` (default: a freshly built page) with the app's theme, CSS and upload limit.

    ``overrides`` go to ``gr.Blocks.launch`` and win over the defaults (``server_name``, ``server_port``,
    ``share``, ``inline``, ...).
    """
    demo = demo if demo is not None else build_demo()
    kwargs = dict(theme=THEME, css=CSS, show_error=True, max_file_size=LIMITS.max_upload_bytes)
    kwargs.update(overrides)
    # A class of 60 opening the page at once stays well under max_size; ZeroGPU would otherwise set it to 1.
    return demo.queue(max_size=LIMITS.queue_size).launch(**kwargs)
