"""Test helpers that are not tests: a throwaway PostgreSQL server, test-only models."""
