"""The harness: tasks, adapters, plugins, runtimes and the phase runner that records a cell."""
