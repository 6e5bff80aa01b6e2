"""Optline: a self-hosted preference center and profile sync for Braze."""

__version__ = "0.1.0"
