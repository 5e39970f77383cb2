from validateur.cli import main

main()
