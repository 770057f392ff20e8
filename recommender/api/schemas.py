"""The API's JSON bodies and query strings as pydantic models: gorse's field names, troika's limits.

``json_body`` and ``query_args`` validate requests with them and the OpenAPI description is
generated from them, so what is documented is what is checked.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, RootModel

from shared.openapi import keep_component_names

ID_PATTERN = r"^[^/]*[^/ \t\r\n\f\v][^/]*$"  # no '/', not blank: the catalogue's rule, spelt the same in every regex flavour
ID = Field(min_length=1, max_length=256, pattern=ID_PATTERN)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="ignore")  # gorse clients send Subscribe etc.; we keep what we use
    UserId: str = ID
    Labels: list[str] | None = Field(default=None, max_length=100)
    Comment: str | None = Field(default=None, max_length=10_000, description="a free-text profile: recommendations before any click")


class UserOut(BaseModel):
    UserId: str
    Labels: list[str]
    Comment: str


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ItemId: str = ID
    IsHidden: bool = False
    Categories: list[str] | None = Field(default=None, max_length=100)
    Timestamp: str | None = Field(default=None, max_length=64, description="RFC 3339; when the item was published", json_schema_extra={"format": "date-time"})
    Labels: list[str] | None = Field(default=None, max_length=100)
    Comment: str = Field(default="", max_length=20_000, description="the item's text (with Labels, what the model reads)")


class ItemPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    IsHidden: bool | None = None
    Categories: list[str] | None = Field(default=None, max_length=100)
    Timestamp: str | None = Field(default=None, max_length=64, json_schema_extra={"format": "date-time"})
    Labels: list[str] | None = Field(default=None, max_length=100)
    Comment: str | None = Field(default=None, max_length=20_000)


class ItemOut(BaseModel):
    ItemId: str
    IsHidden: bool
    Categories: list[str]
    Timestamp: str
    Labels: list[str]
    Comment: str


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    FeedbackType: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    UserId: str = ID
    ItemId: str = ID
    Value: float = Field(default=1.0, allow_inf_nan=False)
    Timestamp: str | None = Field(default=None, max_length=64, json_schema_extra={"format": "date-time"})


class FeedbackList(RootModel[list[FeedbackIn]]):
    root: list[FeedbackIn] = Field(max_length=10_000)


class SessionFeedbackIn(FeedbackIn):
    UserId: str = Field(default="", max_length=256, description="may be empty: an anonymous session")


class SessionFeedback(RootModel[list[SessionFeedbackIn]]):
    root: list[SessionFeedbackIn] = Field(min_length=1, max_length=1000)


class UserList(RootModel[list[UserIn]]):
    root: list[UserIn] = Field(max_length=10_000)


class ItemList(RootModel[list[ItemIn]]):
    root: list[ItemIn] = Field(max_length=10_000)


class FeedbackOut(BaseModel):
    FeedbackType: str
    UserId: str
    ItemId: str
    Value: float
    Timestamp: str


class Affected(BaseModel):
    RowAffected: int


class Scored(BaseModel):
    Id: str
    Score: float


class Recommended(RootModel[list[Scored] | list[str]]):
    """Item ids best first; with the header ``X-API-Version: 2``, ids with scores (as gorse answers)."""


class ScoreIn(BaseModel):
    """troika's addition: score given candidates (an impression) for one user."""
    model_config = ConfigDict(extra="ignore")
    UserId: str = ID
    ItemIds: list[Annotated[str, Field(min_length=1, max_length=256, pattern=ID_PATTERN)]] = Field(
        min_length=1, max_length=1000, description="the candidates, scored in this order")


class Page(BaseModel):
    n: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=100_000)


class Cursor(BaseModel):
    n: int = Field(default=100, ge=1, le=10_000)
    cursor: str = Field(default="", max_length=256)
    q: str | None = Field(default=None, max_length=1000, description="search item text by meaning (troika's addition)")


class FeedbackCursor(BaseModel):
    n: int = Field(default=100, ge=1, le=10_000)
    cursor: str = Field(default="", pattern=r"^[0-9]{0,12}$", description="from the previous page's Cursor")


class UsersOut(BaseModel):
    Cursor: str
    Users: list[UserOut]


class ItemsOut(BaseModel):
    Cursor: str
    Items: list[ItemOut]


class FeedbackPageOut(BaseModel):
    Cursor: str
    Feedback: list[FeedbackOut]


keep_component_names(globals(), __package__)  # the names they had in recommender.api, before it was split
