from chaosrunner.cli import main

main()
