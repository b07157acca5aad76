"""Clients for the platforms chaosrunner acts on (AWS, Kubernetes), built the way the Chaos Toolkit
drivers build theirs but with a timeout on every call. Shared by the inventories and the drivers."""
