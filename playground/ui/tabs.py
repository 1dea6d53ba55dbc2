"""The tabs in page order. Theory comes last: its "Show me" buttons need the controls the other tabs registered."""
from __future__ import annotations

from playground.ui import edit, forward, lab2d, likelihood, sampling, theory, training

TABS = (forward, sampling, training, edit, lab2d, likelihood, theory)

__all__ = ["TABS"]
