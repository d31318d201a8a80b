"""The replay's screens: one run (trace.py) and the help (help.py)."""
