"""Tests of eqlatent.projections."""
