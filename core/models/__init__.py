"""The canonical model: SQLModel tables, one module per concept.

Importing this package registers every table on ``SQLModel.metadata``.
"""

from crmhub.core.models.customer import Consent, Customer, CustomerStats, SourceIdentity
from crmhub.core.models.inbox import WebhookEvent
from crmhub.core.models.interaction import Interaction
from crmhub.core.models.job import Job, Lease
from crmhub.core.models.ledger import MergeBlock, MergeRecord, PrivacyRequest
from crmhub.core.models.order import Order, OrderLine, Refund
from crmhub.core.models.score import CustomerScore, ScoreHistory, ScoreRun
from crmhub.core.models.segment import (
    PushRun,
    PushState,
    Segment,
    SegmentEvent,
    SegmentMember,
    SegmentSize,
)
from crmhub.core.models.sync import SyncCursor, SyncRun

__all__ = [
    "Consent",
    "Customer",
    "CustomerScore",
    "CustomerStats",
    "Interaction",
    "Job",
    "Lease",
    "MergeBlock",
    "MergeRecord",
    "Order",
    "OrderLine",
    "PrivacyRequest",
    "PushRun",
    "PushState",
    "Refund",
    "ScoreHistory",
    "ScoreRun",
    "Segment",
    "SegmentEvent",
    "SegmentMember",
    "SegmentSize",
    "SourceIdentity",
    "SyncCursor",
    "SyncRun",
    "WebhookEvent",
]
