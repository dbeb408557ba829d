"""Metrics of how much information a projection keeps (the quotient distances they compare against: :mod:`eqlatent.groups.quotient`)."""
