"""Studies: one subpackage per reproduction study, each exposing ``run(cfg) -> dict``.

``molecules`` (claim 1) and ``images`` (claims 2 and 3) share their skeleton: the check of a
model folder's training settings (:mod:`eqlatent.studies.fingerprint`) and the end of a run
(:mod:`eqlatent.studies.skeleton`).
"""
