"""Reproducible training pipeline for the project's own MODNet weights (issue 5).

Stages (each a module, all reachable from `python -m model.training <stage> --help`):
labels -> split -> train (supervised, backbone from the ImageNet npz) -> soc -> eval -> export.
Nothing here is imported by the service; it reads data from ../shared and writes only under
./cache, ./runs and model/weights.
"""
