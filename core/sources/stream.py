"""The Stream interface and the Page it yields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel

from crmhub.core.records import CanonicalRecord

StateT = TypeVar("StateT", bound=BaseModel)


@dataclass
class Page(Generic[StateT]):
    """One page read from a source.

    :ivar records: canonical records on this page (deletions are records with ``deleted=True``).
    :ivar state: the cursor after this page; committed together with ``records``.
    :ivar expected_total: what the source reports as the total for this run, when it does
        (``X-WP-Total``, ``count.json``); the runner reconciles it at the end.
    """

    records: list[CanonicalRecord]
    state: StateT
    expected_total: int | None = None
    meta: dict[str, object] = field(default_factory=dict)


class Stream(Generic[StateT]):
    """A resumable, incremental reader of one kind of record from one instance.

    Subclasses set :attr:`name` and :attr:`state_model` and implement :meth:`read`.
    """

    name: ClassVar[str] = ""
    state_model: ClassVar[type[BaseModel]]
    lookback: timedelta = timedelta(minutes=10)

    def read(self, state: StateT | None, *, full: bool) -> Iterator[Page[StateT]]:
        """Yield pages from ``state`` (``None`` on the first run) to the end of the data.

        :param state: the state committed after the last page of an earlier run, or the
            state of a run that was interrupted (resume from there).
        :param full: read everything again, ignoring the incremental position.
        """
        raise NotImplementedError

    def expected_total(self) -> int | None:
        """How many records the source holds for this stream, when it can tell cheaply;
        used after a full run to report gaps. ``None`` when unknown."""
        return None

    def finish(self, state: StateT) -> StateT:
        """The state to store once a run has read every page (e.g. move ``since`` forward).
        Default: the last page's state unchanged."""
        return state
