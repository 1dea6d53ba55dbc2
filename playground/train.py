"""Entry point only: ``python -m playground.train`` and the ``playground-train`` script run
:func:`playground.mnist.train.main` (the trainer lives in playground/mnist/train.py)."""
from playground.mnist.train import main

if __name__ == "__main__":
    raise SystemExit(main())
