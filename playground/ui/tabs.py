"""The tabs in page order. Theory comes last: its "Show me" buttons need the controls the other tabs registered."""
from __future__ import annotations

from playground.ui import edit, forward, lab2d, likelihood, sampling, theory, training
from playground.ui import solvers as solvers_tab

TABS = (forward, sampling, training, edit, lab2d, solvers_tab, likelihood, theory)

__all__ = ["TABS"]
