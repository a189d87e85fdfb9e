"""Test-support helpers shared by the chaincut test suite (not collected as tests)."""
