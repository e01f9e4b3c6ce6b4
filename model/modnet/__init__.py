"""The MODNet network (construction only; weights are loaded by `model.weights`)."""

from model.modnet.network import MODNet, MODNetOutput

__all__ = ["MODNet", "MODNetOutput"]
