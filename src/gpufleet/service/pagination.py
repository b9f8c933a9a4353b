"""Pagination of every list: ``?limit=`` (1..500, default 50) and ``?offset=`` (>= 0).

A page is ``{"items": [...], "total": N, "limit": L, "offset": O}``: ``total`` counts every
item the caller may see, not just this page's, so a client knows when to stop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from gpufleet.service.deps import MAX_ID

MAX_LIMIT = 500
DEFAULT_LIMIT = 50

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def of_query(
        self, s: Session, query: Select[T], render: Callable[[T], dict[str, Any]]
    ) -> dict[str, Any]:
        """One page of a query's rows (the query orders them), rendered."""
        total = s.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        rows = s.scalars(query.limit(self.limit).offset(self.offset)).all()
        return self.wrap([render(r) for r in rows], total)

    def of_list(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """One page of a list already in memory."""
        return self.wrap(list(items[self.offset : self.offset + self.limit]), len(items))

    def wrap(self, items: list[dict[str, Any]], total: int) -> dict[str, Any]:
        return {"items": items, "total": total, "limit": self.limit, "offset": self.offset}


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="items per page (1..500)")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="items to skip")] = 0,
) -> Page:
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(page_params)]
