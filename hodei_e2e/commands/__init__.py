"""The bodies of the commands; cli.py parses the command line and calls them."""
