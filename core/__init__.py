"""crmhub core: canonical model, hookspecs, plugin manager, config, storage, identity, jobs, API, CLI."""
