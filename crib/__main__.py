from crib.cli import main

main()
