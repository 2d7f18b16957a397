"""crmhub's WooCommerce plugin: customers and orders from ``/wp-json/wc/v3``, signed webhooks,
and a watch on the webhooks WooCommerce disables (see README.md).

Modules: ``hooks`` (the entry point, thin), ``settings``, ``client`` (auth by URL scheme),
``pager`` (id-ordered offset pagination that notices records moving), ``mapping`` (payloads →
canonical records), ``customers`` and ``orders`` (the streams, on ``stream_base``),
``reconcile`` (deletions known only by absence), ``webhooks`` (verify and process),
``health`` (subscriptions: report, re-enable). ``fake*`` is the loopback test double.
"""
