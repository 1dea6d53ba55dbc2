"""The teaching notebooks (notebooks/*.ipynb): each runs top to bottom at CI sizes, opens in Colab from its own
path, is committed without outputs, is what notebooks/build.py writes, and never clones the project when
`playground` imports.

Each notebook runs in a fresh ipykernel of the interpreter running pytest (checked from inside the kernel), with
cwd = notebooks/, PLAYGROUND_NOTEBOOK_CI=1 (the notebooks' tiny sizes) and OMP_NUM_THREADS=1. A `git` that
records its own call sits first on PATH, so a clone attempt is caught even on a machine with network.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = ["01_forward_process.ipynb", "02_train_and_sample.ipynb", "03_2d_lab.ipynb"]
BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
         "(https://colab.research.google.com/github/diffusion-playground/diffusion-playground/blob/main/notebooks/{})")
CELL_TIMEOUT_S = 300

# Appended to each notebook under test: which interpreter and which playground the kernel used.
PROBE = ("import json as _json, sys as _sys, playground as _pg\n"
         "print(_json.dumps({'executable': _sys.executable, 'prefix': _sys.prefix, 'playground': _pg.__file__}))")


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NB_DIR / name, as_version=4)


def test_the_notebooks_folder_holds_the_three_notebooks():
    assert sorted(p.name for p in NB_DIR.glob("*.ipynb")) == NOTEBOOKS


def test_the_committed_notebooks_are_what_build_py_writes():
    r = subprocess.run([sys.executable, str(NB_DIR / "build.py"), "--check"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_clean_and_opens_in_colab(name):
    nb = _read(name)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.strip() == BADGE.format(name)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs committed"
    install = nb.cells[1].source
    assert nb.cells[1].cell_type == "code"
    # the clone and the pip install happen only where `import playground` failed
    guard = install.index("except ImportError:")
    assert install.index("import playground") < guard < install.index('"git", "clone"') < install.index('"pip"')
    assert 'os.environ.get("PLAYGROUND_NOTEBOOK_CI") == "1"' in "".join(c.source for c in nb.cells)


def _seconds(cell) -> float:
    ex = cell.metadata.get("execution", {})
    a, b = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
    if not (a and b):
        return 0.0
    parse = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(b) - parse(a)).total_seconds()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from nbclient import NotebookClient

    class ThisInterpreter(KernelSpecManager):
        """'python3' is an ipykernel of the interpreter running pytest, whatever kernelspecs the machine has."""

        def get_kernel_spec(self, kernel_name):
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                              display_name="Python 3", language="python", name=kernel_name)

    fake_bin, called = tmp_path / "bin", tmp_path / "git-was-called"
    fake_bin.mkdir()
    (fake_bin / "git").write_text(f"#!/bin/sh\necho \"$@\" >> '{called}'\nexit 1\n")
    (fake_bin / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("PLAYGROUND_NOTEBOOK_CI", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")

    nb = _read(name)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ThisInterpreter())
    client = NotebookClient(nb, km=km, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                            resources={"metadata": {"path": str(NB_DIR)}})
    start = time.perf_counter()
    client.execute()  # a failing cell raises CellExecutionError with its traceback
    took = time.perf_counter() - start

    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    probe = json.loads(out.strip().splitlines()[-1])
    assert probe["prefix"] == sys.prefix, probe  # the kernel ran in pytest's environment ...
    assert os.path.realpath(probe["executable"]) == os.path.realpath(sys.executable), probe  # ... and interpreter
    assert Path(probe["playground"]).resolve().is_relative_to(ROOT), probe  # this tree's code, not another install
    assert not called.exists(), f"the notebook called git: {called.read_text()}"
    slowest = sorted(((_seconds(c), i) for i, c in enumerate(nb.cells) if c.cell_type == "code"), reverse=True)[:3]
    print(f"{name}: {took:.1f} s in all; slowest cells: " + ", ".join(f"#{i} {s:.1f} s" for s, i in slowest))
