"""The images study (claims 2 and 3): rotation-equivariant encoders on rotated MNIST -> projections.

A package because the study has several steps, one module each (latents, analysis,
figures, claims23_report); ``run`` is re-exported here so that ``study: eqlatent.studies.images.run``
in the configs names the pipeline.
"""

from eqlatent.studies.images.study import run

__all__ = ["run"]
