"""`python -m benchmarks`: what the edge pipeline costs and how good it is, measured on this machine."""
