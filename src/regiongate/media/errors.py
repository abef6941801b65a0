"""Media fetch failures: all are ``400 invalid_media`` for the client, told apart by type and ``reason``.

Messages are client-facing, so they never contain resolved addresses (that would let a client map the gateway's
internal DNS view); ``detail`` carries those for logs only.
"""

from __future__ import annotations

from regiongate.errors import InvalidMedia

_MESSAGES: dict[str, str] = {
    "disabled": "fetching media URLs is disabled on this gateway; send the media inline as a data: URL",
    "scheme": "only http, https and data: media URLs are accepted",
    "scheme_downgrade": "a redirect from https to http was refused",
    "userinfo": "media URLs must not contain credentials ('user@host')",
    "malformed_url": "the media URL is malformed",
    "malformed_host": "the media URL's host is not a valid hostname or IP address",
    "special_name": "the media URL's host is a local-only name",
    "single_label_name": "the media URL's host must be a fully qualified domain name",
    "not_allowlisted": "the media URL's host is not on this gateway's allow-list",
    "dns": "the media URL's host could not be resolved",
    "connection": "the media URL could not be fetched",
    "http_status": "the media URL answered with an unexpected HTTP status",
    "content_encoding": "the media URL answered with a compressed encoding; serve it uncompressed",
    "too_many_redirects": "the media URL redirected too many times",
    "bad_redirect": "the media URL redirected without a usable Location",
    "timeout": "fetching the media URL took too long",
    "too_large": "the media is larger than this gateway accepts",
    "malformed_data_url": "the data: URL is malformed",
    "data_url_not_base64": "data: URLs must be base64-encoded",
    "unrecognized_media": "the media's bytes are not a supported image, audio or video format",
    "wrong_modality": "the media's bytes do not match the content part's type",
}


class FetchError(InvalidMedia):
    """Base of media fetch errors. ``reason`` is a stable machine-readable string."""

    def __init__(self, reason: str, message: str | None = None, *, detail: str = "", param: str | None = None):
        super().__init__(message or _default_message(reason), param=param)
        self.reason = reason
        self.detail = detail


class FetchRefused(FetchError):
    """The policy forbids this URL: scheme, host, non-public address, allow-list, or fetching disabled."""


class FetchFailed(FetchError):
    """The URL was allowed but fetching it did not work (DNS, connection, HTTP status, redirects)."""


class FetchTimeout(FetchFailed):
    def __init__(self, *, detail: str = "", param: str | None = None) -> None:
        super().__init__("timeout", detail=detail, param=param)


class FetchTooLarge(FetchError):
    def __init__(self, *, detail: str = "", param: str | None = None) -> None:
        super().__init__("too_large", detail=detail, param=param)


class UnrecognizedMedia(FetchError):
    """The bytes are not a supported format, or not the modality the part declared."""


def _default_message(reason: str) -> str:
    if reason in _MESSAGES:
        return _MESSAGES[reason]
    # Address reasons (addresses.Reason values) share one message: which kind of internal address is not the
    # client's business, and naming it would help probing.
    return "the media URL's host is not a public address"
