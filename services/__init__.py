"""The four services of the suite; none imports another."""
