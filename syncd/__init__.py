"""syncd: a self-hosted unified API daemon for property management systems."""

__version__ = "0.1.0"
