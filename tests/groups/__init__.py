"""Tests of eqlatent.groups."""
