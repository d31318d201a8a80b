"""The Docker fixtures (a real engine, the busybox test image) for the sweep tests that run Docker cells."""

from tests.docker.conftest import docker_client, image, leftovers

__all__ = ["docker_client", "image", "leftovers"]
