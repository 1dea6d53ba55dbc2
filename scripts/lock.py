"""Refresh the two lock files from the ranges: ``python scripts/lock.py`` (or ``make lock``).

    requirements-dev.txt  → requirements-dev.lock   what ``make test`` installs into .venv
    requirements.txt      → requirements.lock       what ``make run`` installs (the same versions)

pip-compile (pip-tools) resolves on this interpreter and platform, so run it with the Python the project
tests on (README: 3.11, Linux x86_64). torch's CUDA libraries are Linux-only requirements of torch; pip-compile
writes them unconditionally, so they get torch's own ``platform_system == "Linux"`` marker back here, and the
locks install on macOS and Windows too. Nothing else is edited.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIP_TOOLS = "pip-tools==7.6.2"
LINUX = 'platform_system == "Linux"'
COMPILE = ["--quiet", "--strip-extras", "--allow-unsafe", "--no-emit-index-url", "--no-emit-find-links",
           "--no-emit-trusted-host", "--newline=LF"]


def linux_only(lock_text: str, torch_linux: set[str]) -> set[str]:
    """Packages that are in the lock only because of torch's Linux-only requirements (by the "# via" notes)."""
    via: dict[str, set[str]] = {}
    name = None
    for line in lock_text.splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==", line)
        if m:
            name = m.group(1).lower()
            via[name] = set()
            inline = re.search(r"#\s*via\s+(.+)$", line)
            if inline:
                via[name].add(inline.group(1).strip().lower())
        elif name and re.match(r"^\s+#\s+(via\s+)?[A-Za-z0-9_.-]+\s*$", line):
            parent = line.strip().lstrip("#").strip()
            parent = parent[4:].strip() if parent.startswith("via ") else parent
            if parent != "via":
                via[name].add(parent.lower())
    out = {n for n in via if n in torch_linux}
    while True:  # everything pulled in only by Linux-only packages is Linux-only too
        more = {n for n, parents in via.items() if n not in out and parents and parents <= out}
        if not more:
            return out
        out |= more


def add_markers(path: Path, names: set[str]) -> None:
    lines = []
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)(.*)$", line)
        if m and m.group(1).lower() in names and ";" not in line:
            line = f"{m.group(1)}=={m.group(2)} ; {LINUX}{m.group(3)}"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = Path(tmp) / "venv"
        venv.create(env, with_pip=True)
        py = str(env / "bin" / "python")
        subprocess.run([py, "-m", "pip", "install", "-q", PIP_TOOLS], check=True)
        compile_ = [py, "-m", "piptools", "compile", *COMPILE]
        dev, run = ROOT / "requirements-dev.lock", ROOT / "requirements.lock"
        # relative names, so the files' headers name no folder of this machine
        subprocess.run([*compile_, "--upgrade", "-o", dev.name, "requirements-dev.txt"], check=True, cwd=ROOT)
        # the runtime lock takes the dev lock's versions, so `make run` and `make test` run the same packages
        subprocess.run([*compile_, "--upgrade", "-c", dev.name, "-o", run.name, "requirements.txt"],
                       check=True, cwd=ROOT)
        subprocess.run([py, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, _pin(dev, "torch")],
                       check=True, capture_output=True)
        wheel = next(Path(tmp).glob("torch-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            text = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        torch_linux = {re.split(r"[\[<>=~; ]", line[len("Requires-Dist: "):])[0].lower()
                       for line in text.splitlines() if line.startswith("Requires-Dist:") and LINUX in line}
    for lock in (dev, run):
        add_markers(lock, linux_only(lock.read_text(), torch_linux))
        print(f"wrote {lock.relative_to(ROOT)}")
    return 0


def _pin(lock: Path, name: str) -> str:
    m = re.search(rf"^{name}==(\S+)", lock.read_text(), re.M)
    if not m:
        raise SystemExit(f"{name} is not in {lock}")
    return f"{name}=={m.group(1)}"


if __name__ == "__main__":
    sys.exit(main())
