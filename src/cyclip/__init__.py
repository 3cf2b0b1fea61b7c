"""cyclip: CLIP-style image-text training and analysis with CyCLIP's cyclic consistency."""

__version__ = "0.1.0"
