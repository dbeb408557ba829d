"""eqlatent: make the latent space of an equivariant network usable.

The latent of an equivariant model is only defined up to the group action (node order,
rotation).  This package builds those latents on real data, maps them through invariant
projections, and measures how much information each projection keeps.
"""

__version__ = "0.1.0"
