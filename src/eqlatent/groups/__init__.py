"""Group actions on flat latents, the quotient distance, and group samplers: one home for all three.

* :mod:`~eqlatent.groups.actions`: :class:`FieldAction`, a group acting on ``[B, D]`` latents field by field;
* :mod:`~eqlatent.groups.layouts`: the studies' latent layouts (``regular`` C_N, ``irreps`` SO(2), ``orbit``)
  and their actions, without escnn;
* :mod:`~eqlatent.groups.field_types`: the action of any escnn ``FieldType`` (escnn loads on first use);
* :mod:`~eqlatent.groups.specs`: what a ``group_or_field_type`` argument means (``"S_n"``, ``"C8"``, a FieldType ...);
* :mod:`~eqlatent.groups.trig`: the maximum over the circle shared by every SO(2) / O(2) computation;
* :mod:`~eqlatent.groups.quotient`: ``min_g ||z1 - g . z2||`` (:func:`eqlatent.quotient_distance`);
* :mod:`~eqlatent.groups.o3`: SO(3) / O(3) on e3nn ``Irreps`` latents (e3nn's own ``D_from_matrix``);
* :mod:`~eqlatent.groups.so3_max`: the maximum over SO(3) (closed form for l <= 1, grid + Newton above);
* :mod:`~eqlatent.groups.o3_quotient`: the quotient distance of e3nn latents;
* :mod:`~eqlatent.groups.inputs`: what a researcher's model returns, as a flat ``[B, D]`` latent;
* :mod:`~eqlatent.groups.samplers`: random group elements, and :mod:`~eqlatent.groups.equivariance` the checks that use them.

The package imports nothing here, so ``import eqlatent`` stays light.
"""
