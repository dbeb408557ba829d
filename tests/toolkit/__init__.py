"""Tests of eqlatent.toolkit."""
