"""Benchmarks behind `pinnkan bench …` (speed and memory; never timed tests)."""
