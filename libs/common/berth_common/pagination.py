"""Page parameters and the page envelope every list endpoint returns."""

import math
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

T = TypeVar("T")

MAX_PAGE_SIZE = 100


class PageParams(BaseModel):
    page: int = Field(1, ge=1, le=100_000)
    size: int = Field(20, ge=1, le=MAX_PAGE_SIZE)
    sort: str | None = Field(None, max_length=64, pattern=r"^-?[a-z_]{1,48}$")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int
    pages: int

    @classmethod
    def build(cls, items: list[T], total: int, params: PageParams) -> "Page[T]":
        return cls(
            items=items,
            total=total,
            page=params.page,
            size=params.size,
            pages=math.ceil(total / params.size) if total else 0,
        )


def _page_params(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    sort: Annotated[
        str | None,
        Query(max_length=64, pattern=r"^-?[a-z_]{1,48}$", description="field, or -field"),
    ] = None,
) -> PageParams:
    return PageParams(page=page, size=size, sort=sort)


PageDep = Annotated[PageParams, Depends(_page_params)]
