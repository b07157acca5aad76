"""``python -m chaosrunner.sandbox.faultproxy`` runs the server (see server.main)."""

from chaosrunner.sandbox.faultproxy.server import main

main()
