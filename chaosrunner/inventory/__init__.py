"""Inventories: where the targets of an experiment come from (sandbox, static list, AWS, Kubernetes).

The contract is in :mod:`chaosrunner.inventory.base`; each member is one small module.
"""
