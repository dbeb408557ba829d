"""Tests of configs/ (the Hydra tree: sweeps, scale-out launchers)."""
