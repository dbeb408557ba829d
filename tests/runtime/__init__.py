"""Tests of eqlatent.runtime."""
