import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Isolation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISOLATION_UNSPECIFIED: _ClassVar[Isolation]
    ISOLATION_ISOLATED: _ClassVar[Isolation]
    ISOLATION_SESSION: _ClassVar[Isolation]

class ResourceKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESOURCE_KIND_UNSPECIFIED: _ClassVar[ResourceKind]
    RESOURCE_KIND_IMAGE: _ClassVar[ResourceKind]
    RESOURCE_KIND_MEDIA: _ClassVar[ResourceKind]
    RESOURCE_KIND_FONT: _ClassVar[ResourceKind]
    RESOURCE_KIND_STYLESHEET: _ClassVar[ResourceKind]

class LoadState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOAD_STATE_UNSPECIFIED: _ClassVar[LoadState]
    LOAD_STATE_LOAD: _ClassVar[LoadState]
    LOAD_STATE_DOM_CONTENT_LOADED: _ClassVar[LoadState]
    LOAD_STATE_NETWORK_IDLE: _ClassVar[LoadState]

class MouseButton(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MOUSE_BUTTON_UNSPECIFIED: _ClassVar[MouseButton]
    MOUSE_BUTTON_LEFT: _ClassVar[MouseButton]
    MOUSE_BUTTON_RIGHT: _ClassVar[MouseButton]
    MOUSE_BUTTON_MIDDLE: _ClassVar[MouseButton]

class ElementState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ELEMENT_STATE_UNSPECIFIED: _ClassVar[ElementState]
    ELEMENT_STATE_ATTACHED: _ClassVar[ElementState]
    ELEMENT_STATE_VISIBLE: _ClassVar[ElementState]
    ELEMENT_STATE_HIDDEN: _ClassVar[ElementState]
    ELEMENT_STATE_DETACHED: _ClassVar[ElementState]

class ExtractTarget(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXTRACT_TARGET_UNSPECIFIED: _ClassVar[ExtractTarget]
    EXTRACT_TARGET_TEXT: _ClassVar[ExtractTarget]
    EXTRACT_TARGET_INNER_HTML: _ClassVar[ExtractTarget]
    EXTRACT_TARGET_OUTER_HTML: _ClassVar[ExtractTarget]
    EXTRACT_TARGET_ATTRIBUTE: _ClassVar[ExtractTarget]

class ImageFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_FORMAT_UNSPECIFIED: _ClassVar[ImageFormat]
    IMAGE_FORMAT_PNG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_JPEG: _ClassVar[ImageFormat]

class SameSite(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAME_SITE_UNSPECIFIED: _ClassVar[SameSite]
    SAME_SITE_STRICT: _ClassVar[SameSite]
    SAME_SITE_LAX: _ClassVar[SameSite]
    SAME_SITE_NONE: _ClassVar[SameSite]
ISOLATION_UNSPECIFIED: Isolation
ISOLATION_ISOLATED: Isolation
ISOLATION_SESSION: Isolation
RESOURCE_KIND_UNSPECIFIED: ResourceKind
RESOURCE_KIND_IMAGE: ResourceKind
RESOURCE_KIND_MEDIA: ResourceKind
RESOURCE_KIND_FONT: ResourceKind
RESOURCE_KIND_STYLESHEET: ResourceKind
LOAD_STATE_UNSPECIFIED: LoadState
LOAD_STATE_LOAD: LoadState
LOAD_STATE_DOM_CONTENT_LOADED: LoadState
LOAD_STATE_NETWORK_IDLE: LoadState
MOUSE_BUTTON_UNSPECIFIED: MouseButton
MOUSE_BUTTON_LEFT: MouseButton
MOUSE_BUTTON_RIGHT: MouseButton
MOUSE_BUTTON_MIDDLE: MouseButton
ELEMENT_STATE_UNSPECIFIED: ElementState
ELEMENT_STATE_ATTACHED: ElementState
ELEMENT_STATE_VISIBLE: ElementState
ELEMENT_STATE_HIDDEN: ElementState
ELEMENT_STATE_DETACHED: ElementState
EXTRACT_TARGET_UNSPECIFIED: ExtractTarget
EXTRACT_TARGET_TEXT: ExtractTarget
EXTRACT_TARGET_INNER_HTML: ExtractTarget
EXTRACT_TARGET_OUTER_HTML: ExtractTarget
EXTRACT_TARGET_ATTRIBUTE: ExtractTarget
IMAGE_FORMAT_UNSPECIFIED: ImageFormat
IMAGE_FORMAT_PNG: ImageFormat
IMAGE_FORMAT_JPEG: ImageFormat
SAME_SITE_UNSPECIFIED: SameSite
SAME_SITE_STRICT: SameSite
SAME_SITE_LAX: SameSite
SAME_SITE_NONE: SameSite

class BrowserOptions(_message.Message):
    __slots__ = ("isolation", "block_resources", "block_third_party", "viewport", "user_agent")
    ISOLATION_FIELD_NUMBER: _ClassVar[int]
    BLOCK_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    BLOCK_THIRD_PARTY_FIELD_NUMBER: _ClassVar[int]
    VIEWPORT_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    isolation: Isolation
    block_resources: _containers.RepeatedScalarFieldContainer[ResourceKind]
    block_third_party: bool
    viewport: Viewport
    user_agent: str
    def __init__(self, isolation: _Optional[_Union[Isolation, str]] = ..., block_resources: _Optional[_Iterable[_Union[ResourceKind, str]]] = ..., block_third_party: bool = ..., viewport: _Optional[_Union[Viewport, _Mapping]] = ..., user_agent: _Optional[str] = ...) -> None: ...

class Viewport(_message.Message):
    __slots__ = ("width", "height")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class NavigateStep(_message.Message):
    __slots__ = ("url", "wait_until", "referer")
    URL_FIELD_NUMBER: _ClassVar[int]
    WAIT_UNTIL_FIELD_NUMBER: _ClassVar[int]
    REFERER_FIELD_NUMBER: _ClassVar[int]
    url: str
    wait_until: LoadState
    referer: str
    def __init__(self, url: _Optional[str] = ..., wait_until: _Optional[_Union[LoadState, str]] = ..., referer: _Optional[str] = ...) -> None: ...

class ClickStep(_message.Message):
    __slots__ = ("selector", "button", "click_count", "wait_for_navigation")
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    BUTTON_FIELD_NUMBER: _ClassVar[int]
    CLICK_COUNT_FIELD_NUMBER: _ClassVar[int]
    WAIT_FOR_NAVIGATION_FIELD_NUMBER: _ClassVar[int]
    selector: str
    button: MouseButton
    click_count: int
    wait_for_navigation: bool
    def __init__(self, selector: _Optional[str] = ..., button: _Optional[_Union[MouseButton, str]] = ..., click_count: _Optional[int] = ..., wait_for_navigation: bool = ...) -> None: ...

class TypeTextStep(_message.Message):
    __slots__ = ("selector", "text", "clear_first", "press_enter")
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIRST_FIELD_NUMBER: _ClassVar[int]
    PRESS_ENTER_FIELD_NUMBER: _ClassVar[int]
    selector: str
    text: str
    clear_first: bool
    press_enter: bool
    def __init__(self, selector: _Optional[str] = ..., text: _Optional[str] = ..., clear_first: bool = ..., press_enter: bool = ...) -> None: ...

class WaitForStep(_message.Message):
    __slots__ = ("selector", "load_state", "state")
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    LOAD_STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    selector: str
    load_state: LoadState
    state: ElementState
    def __init__(self, selector: _Optional[str] = ..., load_state: _Optional[_Union[LoadState, str]] = ..., state: _Optional[_Union[ElementState, str]] = ...) -> None: ...

class ExtractStep(_message.Message):
    __slots__ = ("selector", "target", "attribute", "all")
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    selector: str
    target: ExtractTarget
    attribute: str
    all: bool
    def __init__(self, selector: _Optional[str] = ..., target: _Optional[_Union[ExtractTarget, str]] = ..., attribute: _Optional[str] = ..., all: bool = ...) -> None: ...

class EvaluateStep(_message.Message):
    __slots__ = ("expression", "await_promise")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    AWAIT_PROMISE_FIELD_NUMBER: _ClassVar[int]
    expression: str
    await_promise: bool
    def __init__(self, expression: _Optional[str] = ..., await_promise: bool = ...) -> None: ...

class ScreenshotStep(_message.Message):
    __slots__ = ("format", "quality", "full_page", "selector")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    FULL_PAGE_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    format: ImageFormat
    quality: int
    full_page: bool
    selector: str
    def __init__(self, format: _Optional[_Union[ImageFormat, str]] = ..., quality: _Optional[int] = ..., full_page: bool = ..., selector: _Optional[str] = ...) -> None: ...

class PdfStep(_message.Message):
    __slots__ = ("landscape", "print_background", "scale", "paper_width_inches", "paper_height_inches")
    LANDSCAPE_FIELD_NUMBER: _ClassVar[int]
    PRINT_BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    PAPER_WIDTH_INCHES_FIELD_NUMBER: _ClassVar[int]
    PAPER_HEIGHT_INCHES_FIELD_NUMBER: _ClassVar[int]
    landscape: bool
    print_background: bool
    scale: float
    paper_width_inches: float
    paper_height_inches: float
    def __init__(self, landscape: bool = ..., print_background: bool = ..., scale: _Optional[float] = ..., paper_width_inches: _Optional[float] = ..., paper_height_inches: _Optional[float] = ...) -> None: ...

class Cookie(_message.Message):
    __slots__ = ("name", "value", "domain", "path", "expires", "http_only", "secure", "same_site", "url")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    HTTP_ONLY_FIELD_NUMBER: _ClassVar[int]
    SECURE_FIELD_NUMBER: _ClassVar[int]
    SAME_SITE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    domain: str
    path: str
    expires: _timestamp_pb2.Timestamp
    http_only: bool
    secure: bool
    same_site: SameSite
    url: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., domain: _Optional[str] = ..., path: _Optional[str] = ..., expires: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., http_only: bool = ..., secure: bool = ..., same_site: _Optional[_Union[SameSite, str]] = ..., url: _Optional[str] = ...) -> None: ...

class GetCookiesStep(_message.Message):
    __slots__ = ("urls",)
    URLS_FIELD_NUMBER: _ClassVar[int]
    urls: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, urls: _Optional[_Iterable[str]] = ...) -> None: ...

class SetCookiesStep(_message.Message):
    __slots__ = ("cookies",)
    COOKIES_FIELD_NUMBER: _ClassVar[int]
    cookies: _containers.RepeatedCompositeFieldContainer[Cookie]
    def __init__(self, cookies: _Optional[_Iterable[_Union[Cookie, _Mapping]]] = ...) -> None: ...

class ExportCookiesStep(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
