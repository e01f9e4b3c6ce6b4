"""Image decoding, output rendering and matte post-processing (numpy / Pillow / OpenCV, no torch)."""
