from dltheory.cli import main

main()
