"""Metrics of how much information a projection keeps, and the quotient distances they compare against."""
