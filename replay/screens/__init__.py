"""Screens of their own beside the one-run replay: a directory of runs as a table, and two runs
on one clock. Each is pushed by the app (or by another screen); none changes the one-run screen."""
