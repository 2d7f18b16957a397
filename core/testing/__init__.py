"""Test support shipped with crmhub: loopback servers, fake-API building blocks, people data."""
