"""Encoders: the permutation-equivariant graph VAE (molecules) and the rotation-equivariant / plain image CNNs."""
