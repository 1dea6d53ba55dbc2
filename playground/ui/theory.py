"""Tab "Theory": the equations (text in playground/theory.py), a table of contents, and "Show me" buttons.

A button switches to the tab that shows the idea and sets the control that tab registered with
``page.link(control, …)``, then scrolls that control into view and flashes it (playground/ui/reveal.py), so
this tab knows no other tab's widgets. It is built last.
"""
from __future__ import annotations

import gradio as gr

from playground import theory
from playground.ui.page import FAST, Link, Page
from playground.ui.reveal import reveal_js

TAB_ID = "theory"
TAB_TITLE = "Theory"

CSS = """
#theory-toc ol { columns: 3 16em; column-gap: 2em; margin: 0.2em 0 0.6em; }
#theory-toc li { break-inside: avoid; }
.theory-section { scroll-margin-top: 12px; }
"""


def link_handler(tab: str, link: Link | None):
    """A "Show me" button's handler: (gr.Tabs(selected=tab), *the link's updates)."""

    def show(*args):
        if link is None or not link.outputs:
            return gr.Tabs(selected=tab)
        out = link.fn(*args)
        return (gr.Tabs(selected=tab), *(out if len(link.outputs) > 1 else (out,)))

    return show


def toc_md() -> str:
    """The table of contents: one link per section, to its elem_id ``theory-<key>``."""
    items = "\n".join(f'<li><a href="#theory-{sec.key}">{sec.title}</a></li>' for sec in theory.SECTIONS)
    return f"**Contents** ({len(theory.SECTIONS)} sections)\n<ol>\n{items}\n</ol>"


def build(page: Page) -> None:
    """The Theory tab: a table of contents, then every section of playground.theory with its "Show me" button."""
    gr.Markdown(theory.INTRO, latex_delimiters=theory.LATEX_DELIMITERS)
    gr.Markdown(toc_md(), elem_id="theory-toc", sanitize_html=False)
    for sec in theory.SECTIONS:
        gr.Markdown(sec.body, latex_delimiters=theory.LATEX_DELIMITERS, elem_id=f"theory-{sec.key}",
                    elem_classes="theory-section")
        with gr.Row():
            btn = gr.Button(sec.button, size="sm", scale=0, min_width=320)
        if sec.control is not None and sec.control not in page.links:
            raise ValueError(f"theory section {sec.key!r} links to control {sec.control!r}, which no tab registered")
        link = page.links.get(sec.control) if sec.control else None
        event = btn.click(link_handler(sec.tab, link), link.inputs if link else None,
                          [page.tabs, *(link.outputs if link else [])], **FAST)
        if link is not None and link.target:
            event.then(None, None, None, js=reveal_js(link.target), **FAST)
