"""Draw & edit's core: ``drawing`` turns a drawing or picture into an MNIST-style digit and builds inpainting
masks; ``edits`` holds the edits themselves (SDEdit, inpainting, DDIM inversion, slerp interpolation).
Imports nothing itself: import the module you need."""
