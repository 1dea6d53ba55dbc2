"""The runtime: the device (``device``), whole steps as CUDA graphs (``cuda_graphs``) and torchrun
(``distributed``), independent calls side by side on the CPU (``workers``). Imports nothing itself: import the
module you need."""
