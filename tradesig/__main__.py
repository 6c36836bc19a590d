from tradesig.cli.main import main

main()
