"""The command line: thin, it calls services and prints."""
