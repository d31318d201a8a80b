"""The replay's screens: one run (trace.py), the help (help.py), a directory of runs as a table
(runs.py) and two runs on one clock (pair.py). Each is pushed by the app or by another screen."""
