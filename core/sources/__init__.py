"""What a source plugin provides: streams that read pages of canonical records from a cursor.

A plugin's ``crmhub_source_streams`` hook returns :class:`Stream` objects. The core sync
runner (``crmhub.core.sync``) reads each page, ingests its records and commits the page's
cursor state in the same transaction, so a killed sync resumes exactly where it stopped.

Writing a stream::

    class OrdersStream(Stream[IncrementalState]):
        name = "orders"
        state_model = IncrementalState

        def read(self, state, *, full):
            since = None if full or state is None else state.window_start(self.lookback)
            for page in paginator.pages(client, "orders.json", {...}, start=state.resume_token(...)):
                records = [map_order(raw) for raw in page.items]
                yield Page(records=records, state=state.advance(...))
"""

from crmhub.core.sources.cursor import IncrementalState
from crmhub.core.sources.stream import Page, Stream

__all__ = ["IncrementalState", "Page", "Stream"]
