"""chaosrunner: an error-budget aware chaos-engineering agent built on Chaos Toolkit."""

__version__ = "0.1.0"
