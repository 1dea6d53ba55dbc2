"""The app's UI: one module per tab, each with ``TAB_ID``, ``TAB_TITLE`` and ``build(page)``.

The tabs in page order are :data:`playground.ui.tabs.TABS`; :mod:`playground.ui.launch` assembles and serves
the page. Shared pieces: ``page`` (the Page handle, event presets, choices), ``limits``, ``images``, ``models``,
``files``; page-wide features in ``classroom``. Each tab module holds its layout and its handlers; handlers
are plain functions that tests call without a server. The core (``playground/``) never imports gradio; only
this package does.

This file imports nothing: ``app.py`` imports :mod:`playground.ui.zerogpu` first so that, on ZeroGPU, the
``spaces`` package loads before torch.
"""
