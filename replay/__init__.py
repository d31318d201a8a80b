"""The cab-trace replay UI (Textual). Filled in by the replay issue; importable now."""
