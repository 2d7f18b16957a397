"""crmhub-testsource: a file-backed source plugin for testing the job layer.

Configure an instance::

    [plugins.testsource.main]
    data_file = "/tmp/customers.jsonl"   # one JSON customer per line
    page_size = 100
    sync_interval = "15m"
"""
