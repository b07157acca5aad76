"""Chaos Toolkit activity modules of our own: faults and probes that chaoslib runs as ``python`` providers."""
