"""Tests of eqlatent.report."""
