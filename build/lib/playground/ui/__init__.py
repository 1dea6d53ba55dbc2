"""The app's UI: one module per tab, each with ``TAB_ID``, ``TAB_TITLE`` and ``build(page)``, plus ``common``.

``app.py`` assembles the page from :data:`TABS` in order (it numbers the titles). Each tab module holds
its layout and its handlers; handlers are plain functions that tests call without a server. The core
(``playground/*.py``) never imports gradio; only this package does.
"""
from __future__ import annotations

from playground.ui import edit, forward, lab2d, sampling, theory, training

# Theory comes last: its "Show me" buttons need the controls the other tabs registered.
TABS = (forward, sampling, training, edit, lab2d, theory)

__all__ = ["TABS"]
