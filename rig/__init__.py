"""rig: a focus puller for one-person camera crews."""

__version__ = "0.1.0"
