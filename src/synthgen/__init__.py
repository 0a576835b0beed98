"""synthgen: synthetic labelled data for computer vision."""

__version__ = "0.1.0"
