"""The replay's widgets. They draw what `replay.timeline` and `replay.tree` say and do no I/O."""
