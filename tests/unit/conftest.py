"""The unit tests' shared fixtures: the day's objects on moto's S3 and the recorded load (input_fixtures.py)."""

from tests.unit.input_fixtures import recorded_loads, s3  # noqa: F401
