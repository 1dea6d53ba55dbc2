"""Diffusion Playground core: schedules, forward process, samplers, model, training.

The core never imports gradio; `app.py` and `playground/ui.py` build the interface on top.
"""

__version__ = "0.1.0"
