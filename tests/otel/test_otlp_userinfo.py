"""An OTLP endpoint's ``user:password@`` never reaches the console: not in the warning for a
collector that is down, not in the usage error for a bad endpoint, and a malformed header is
not echoed (it is most often a credential that lost its "=")."""

from __future__ import annotations

from pathlib import Path

import pytest

from cab_trace.errors import UsageError
from cab_trace.otel.setup import OtlpSettings, build_pipeline, without_userinfo
from cab_trace.redact import Redactor
from tests.otlp_receiver import closed_port

PASSWORD = "s3cretPassw0rd"


def test_without_userinfo() -> None:
    assert without_userinfo(f"http://bob:{PASSWORD}@collector:4318/v1/traces") == (
        "http://[REDACTED]@collector:4318/v1/traces"
    )
    assert without_userinfo("http://collector:4318") == "http://collector:4318"


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_the_warning_for_a_collector_that_is_down_hides_the_password(tmp_path: Path, protocol: str) -> None:
    settings = OtlpSettings(f"http://bob:{PASSWORD}@127.0.0.1:{closed_port()}", protocol, timeout_s=1)
    pipeline = build_pipeline(tmp_path / "trace.jsonl", Redactor(), settings)
    with pipeline.tracer.start_as_current_span("s"):
        pass
    warnings = pipeline.shutdown(timeout_s=2)
    assert len(warnings) == 1 and "[REDACTED]@127.0.0.1" in warnings[0]
    assert PASSWORD not in warnings[0]


def test_usage_errors_do_not_echo_credentials() -> None:
    with pytest.raises(UsageError) as bad_endpoint:
        OtlpSettings.resolve(f"ftp://bob:{PASSWORD}@h", env={})
    assert PASSWORD not in str(bad_endpoint.value.message)
    with pytest.raises(UsageError) as bad_header:
        OtlpSettings.resolve("http://h:4318", headers=(f"Authorization Bearer {PASSWORD}",), env={})
    assert PASSWORD not in str(bad_header.value.message)
