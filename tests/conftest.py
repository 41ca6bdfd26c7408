"""Fixture modules shared by the whole suite, registered once, before any test module.

Registering them here (not per test module) lets pytest rewrite their asserts and
lets a test module import helpers from them without a "module already imported" error.
"""

pytest_plugins = [
    "tests.db_fixtures",
    "tests.redis_fixtures",
    "tests.s3_fixtures",
    "tests.emulator_fixtures",
]
