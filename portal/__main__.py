from portal.commands.cli import main

main()
