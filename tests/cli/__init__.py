"""Tests of eqlatent.cli."""
