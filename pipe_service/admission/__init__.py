"""Admission: a bounded queue in front of N concurrency slots; ``busy`` when both are full."""
