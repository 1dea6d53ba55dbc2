"""The page's shared pieces: :class:`Page` (the handle each tab's ``build(page)`` receives), a Theory
:class:`Link`, a deep-link :class:`Param`, the event presets ``PRIVATE`` / ``FAST``, :func:`explain`, the
dropdown choices several tabs offer, and two helpers every handler uses (:func:`user_errors`, :func:`session_id`).

Each tab is a module of this package with ``TAB_ID``, ``TAB_TITLE`` and ``build(page)``; ``playground/ui/launch.py``
assembles them in the order of ``playground/ui/tabs.py``. The diffusion maths lives in the core (schedules /
diffusion / samplers); the UI only calls it.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import gradio as gr

from playground import render

PRIVATE = dict(api_visibility="private")  # widget wiring, not part of the public API
FAST = dict(api_visibility="private", show_progress="hidden", queue=False)  # cheap, per-move events
# A handler's ``progress=PROGRESS`` parameter: Gradio finds it by this default and passes the event's own tracker.
PROGRESS = gr.Progress()

# dropdown choices more than one tab offers
SCHEDULE_CHOICES = [(render.SCHEDULE_LABELS[s], s) for s in ("linear", "cosine", "scaled_linear", "sigmoid")]
SPACING_CHOICES = ["leading", "trailing", "linspace"]
DIGIT_CHOICES = ["mixed 0–9", *[str(d) for d in range(10)], "unconditional (null label)"]


def explain(text: str) -> gr.Markdown:
    """A subdued paragraph of explanation (hidden in presenter mode)."""
    return gr.Markdown(text, elem_classes="explain")


@dataclass
class Link:
    """What a Theory "Show me" button sets: fn(*inputs) → one update per output (the tab switch is added)."""

    outputs: list
    fn: Callable[..., Any]
    inputs: list = field(default_factory=list)
    target: str = ""  # elem_id the button scrolls into view and flashes (playground/ui/reveal.py)


@dataclass
class Param:
    """A deep-link setting of one tab: ``?tab=<tab>&<name>=<raw>`` sets ``component`` to ``parse(raw)``."""

    tab: str
    name: str
    component: Any
    parse: Callable[[str], Any]
    update: Callable[[Any], Any] | None = None  # value → component update (default: the value itself)


@dataclass
class Page:
    """Handles shared between tabs while launch.build_demo builds the page.

    ``tabs`` is the gr.Tabs container (a handler selects a tab by returning ``gr.Tabs(selected=id)``),
    ``session_models`` the per-session {label: checkpoint path} of models trained or uploaded in this
    browser session, ``components`` the few widgets another tab writes to (e.g. the Training tab
    refreshes the Sampling tab's model list), and ``links`` the Theory tab's targets by control name.
    ``params`` are the deep-link settings (see ui/classroom.py) and ``load_steps`` the tabs' first-load work,
    which runs after a deep link's settings are applied.
    """

    demo: gr.Blocks
    tabs: gr.Tabs
    session_models: gr.State
    current_tab: str = ""  # the id of the tab being built (build_demo sets it)
    components: dict[str, Any] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    params: list = field(default_factory=list)
    load_steps: list[Callable[[Any], Any]] = field(default_factory=list)

    def param(self, name: str, component, parse: Callable[[str], Any],
              update: Callable[[Any], Any] | None = None) -> None:
        """A deep-link setting of the current tab: ``?tab=<id>&<name>=<raw>`` sets ``component`` to parse(raw)."""
        if any(p.tab == self.current_tab and p.name == name for p in self.params):
            raise ValueError(f"deep-link setting {name!r} of tab {self.current_tab!r} is registered twice")
        self.params.append(Param(self.current_tab, name, component, parse, update))

    def on_load(self, wire: Callable[[Any], Any]) -> None:
        """First-load work of a tab: ``wire(event)`` chains it with ``event.then(...)``.

        It runs after the deep link's settings are applied."""
        self.load_steps.append(wire)

    def link(self, control: str, outputs: Sequence, fn: Callable[..., Any], inputs: Sequence = (),
             target: str | None = None) -> None:
        """Register a Theory "Show me" target: the button switches tabs, sets ``outputs`` to fn(*inputs), then
        scrolls ``target`` (an elem_id; default: the first output's, given one if it has none) into view and
        flashes it (playground/ui/reveal.py)."""
        if control in self.links:
            raise ValueError(f"theory link {control!r} is registered twice")
        if target is None:
            if not outputs:
                raise ValueError(f"theory link {control!r} sets nothing: name a target elem_id to show")
            first = outputs[0]
            if not getattr(first, "elem_id", None):
                first.elem_id = f"link-{control}"
            target = first.elem_id
        self.links[control] = Link(list(outputs), fn, list(inputs), target)


@contextlib.contextmanager
def user_errors():
    """The core's ValueErrors are the user's mistakes: show them as gr.Error (a message, not a traceback)."""
    try:
        yield
    except ValueError as e:
        raise gr.Error(str(e)) from None


def session_id(request) -> str:
    return getattr(request, "session_hash", None) or "anonymous"
