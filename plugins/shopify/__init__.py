"""The Shopify plugin: customers and orders from the Admin REST API, and its webhooks.

One module per concern, the layout every source plugin follows:

- ``settings``: the ``[plugins.shopify.<instance>]`` model;
- ``client``: the rate-limited Admin API client shared by a hub's workers;
- ``mapping``: Shopify objects → canonical records (totals, status, consent);
- ``streams``: the ``customers`` and ``orders`` streams (incremental, resumable);
- ``webhooks`` and ``privacy``: verifying and processing deliveries;
- ``hooks``: the hook implementations, the entry point in group ``crmhub.plugins``.

``fake*`` hold a fake Shopify for tests and demos. See ``README.md`` for set-up.
"""
