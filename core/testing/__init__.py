"""Test kit for crmhub and its plugins: temporary databases, loopback servers, contract tests."""
