"""Simulated datasets: priors, simulation pipeline into a sharded Zarr store, streaming readers."""
