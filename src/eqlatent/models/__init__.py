"""Image encoders for the rotated-MNIST study: steerable (C_N, SO(2)) and plain CNNs."""
