"""Diffusion Playground core: schedules, forward process, samplers (top level), and by job: the MNIST
pipeline (``mnist/``), editing (``editing/``), the 2-D lab (``toy2d/``), the runtime (``runtime/``) and
rendering (``render``).

The core never imports gradio; ``app.py`` and the ``playground/ui/`` package build the interface on top.
"""

__version__ = "0.1.0"
