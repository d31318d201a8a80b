"""Export: push recorded traces over OTLP, write Jaeger JSON, OTLP/JSON lines and asciicast files."""
