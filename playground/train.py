"""Entry point only: ``python -m playground.train`` and the ``playground-train`` script run
:func:`playground.mnist.train_cli.main` (the trainer itself lives in playground/mnist/train.py)."""
from playground.mnist.train_cli import main

if __name__ == "__main__":
    raise SystemExit(main())
