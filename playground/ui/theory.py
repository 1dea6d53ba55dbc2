"""Tab "Theory": the equations (text in playground/theory.py), each with a "Show me" button.

A button switches to the tab that shows the idea and sets the control that tab registered with
``page.link(control, …)``, so this tab knows no other tab's widgets. It is built last.
"""
from __future__ import annotations

import gradio as gr

from playground import theory
from playground.ui.page import FAST, Link, Page

TAB_ID = "theory"
TAB_TITLE = "Theory"


def link_handler(tab: str, link: Link | None):
    """A "Show me" button's handler: (gr.Tabs(selected=tab), *the link's updates)."""

    def show(*args):
        if link is None:
            return gr.Tabs(selected=tab)
        out = link.fn(*args)
        return (gr.Tabs(selected=tab), *(out if len(link.outputs) > 1 else (out,)))

    return show


def build(page: Page) -> None:
    """The Theory tab: every section of playground.theory with its "Show me" button."""
    gr.Markdown(theory.INTRO, latex_delimiters=theory.LATEX_DELIMITERS)
    for sec in theory.SECTIONS:
        gr.Markdown(sec.body, latex_delimiters=theory.LATEX_DELIMITERS)
        with gr.Row():
            btn = gr.Button(sec.button, size="sm", scale=0, min_width=320)
        if sec.control is not None and sec.control not in page.links:
            raise ValueError(f"theory section {sec.key!r} links to control {sec.control!r}, which no tab registered")
        link = page.links.get(sec.control) if sec.control else None
        btn.click(link_handler(sec.tab, link), link.inputs if link else None,
                  [page.tabs, *(link.outputs if link else [])], **FAST)
