"""Prints, as JSON, every span MLflow's tracking server holds: run with the consumers' venv's
python, ``mlflow_spans.py URL``. What MLflow made of the spans it took in over OTLP."""

import json
import sys

import mlflow

mlflow.set_tracking_uri(sys.argv[1])
out = []
for trace in mlflow.search_traces(locations=["0"], return_type="list", max_results=1000):
    for span in trace.data.spans:
        out.append(
            {
                "trace_id": trace.info.trace_id,
                "name": span.name,
                "span_type": span.span_type,
                "inputs": span.inputs,
                "outputs": span.outputs,
                "attributes": {k: v for k, v in span.attributes.items()},
            }
        )
json.dump(out, sys.stdout, default=str)
