"""Entry point only: ``python -m playground.sample`` and the ``playground-sample`` script run
:func:`playground.mnist.sample.main` (the sampling code lives in playground/mnist/sample.py)."""
from playground.mnist.sample import main

if __name__ == "__main__":
    raise SystemExit(main())
