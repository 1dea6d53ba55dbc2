"""The house plan holds: the core never imports gradio, each tab is its own module, and no file grows past ~600
lines."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
def _core_modules() -> list[str]:
    """Every core module, packages included (toy2d, toy2d.exact, ...): all of playground/ but the UI."""
    out = []
    for p in (ROOT / "playground").rglob("*.py"):
        rel = p.relative_to(ROOT / "playground").with_suffix("").parts
        if rel[0] != "ui" and rel != ("__init__",):
            out.append(".".join(rel[:-1] if rel[-1] == "__init__" else rel))
    return sorted(out)


CORE = _core_modules()


def test_core_modules_never_import_gradio():
    """Import every core module in a fresh interpreter: gradio must not be loaded."""
    code = ("import importlib, sys\n"
            f"for name in {CORE!r}:\n"
            "    importlib.import_module('playground.' + name)\n"
            "    assert 'gradio' not in sys.modules, name + ' imported gradio'\n"
            "print(len(sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    expected = {"schedules", "diffusion", "samplers", "mnist.model", "mnist.train", "theory", "toy2d", "toy2d.exact"}
    assert expected <= set(CORE)  # not empty by accident


def test_every_tab_is_a_module_with_a_build():
    from playground.ui.tabs import TABS

    ids = [t.TAB_ID for t in TABS]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "forward" and ids[-1] == "theory"  # theory last: it links to controls the others registered
    for tab in TABS:
        assert tab.__name__.startswith("playground.ui.") and callable(tab.build) and tab.TAB_TITLE


def test_no_module_is_much_longer_than_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "playground").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 650}
    assert not long, f"split these: {long}"
