"""The ``tenantry`` command line: thin Typer groups over library functions."""
