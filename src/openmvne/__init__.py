"""OpenMVNE: the platform for mobile virtual network operators and their channels."""

__version__ = "0.1.0"
