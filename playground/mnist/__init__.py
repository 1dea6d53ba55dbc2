"""The MNIST pipeline: the UNet (model), the data, the trainer, the loss curve's bookkeeping, checkpoints,
the sampling CLI's core (sample) and the quality metric. Imports nothing itself: import the module you need."""
