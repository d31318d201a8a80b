"""cab-trace: record, replay and export traces of coding-agent benchmark runs."""

__version__ = "0.1.0"
