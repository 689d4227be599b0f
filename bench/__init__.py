"""Partnerflow's benchmark: `make bench` (see bench/run.py). Not collected by pytest."""
