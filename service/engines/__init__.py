"""Matting engines behind one interface: MODNet (loaded as a plugin from `model/`) and GrabCut."""
