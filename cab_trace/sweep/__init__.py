"""Sweeps: run a benchmark matrix and add up its cells.

The pure part (planning, summary) imports no process or cluster code; the executors are thin.
"""
