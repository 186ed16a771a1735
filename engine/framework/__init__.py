"""AI frameworks: automatic differentiation (forward and reverse, steppable), the four ways to
differentiate, what PyTorch's capture mechanisms see (dynamic vs static graphs), and scheduling a graph
on devices and streams. ``lab`` holds what only the framework pages need."""
