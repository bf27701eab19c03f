"""slices-bi: a SLICES Blueprint Infrastructure backend for OpenStack sites."""

__version__ = "0.1.0"
