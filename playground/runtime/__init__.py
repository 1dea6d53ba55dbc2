"""The runtime: the device (``device``), whole steps as CUDA graphs (``cuda_graphs``) and torchrun
(``distributed``). Imports nothing itself: import the module you need."""
