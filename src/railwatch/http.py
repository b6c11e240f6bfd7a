"""The one HTTP seam: every request railwatch makes goes through :class:`HttpClient`.

It sets a user agent and timeouts, retries connection errors, 429 and 5xx with exponential
backoff and full jitter (honouring ``Retry-After``), and logs URLs without query strings or
headers so that signed tokens never reach a log.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from railwatch import __version__
from railwatch.errors import NetworkError

__all__ = ["HttpClient", "RetryPolicy", "Traffic", "redact"]

log = logging.getLogger(__name__)
USER_AGENT = f"railwatch/{__version__} (+https://pypi.org/project/railwatch/)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A body cut short arrives as one of these; it is as worth retrying as a dropped connection.
RETRY_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            try:
                return min(self.max_delay_s, max(0.0, float(retry_after)))
            except ValueError:
                pass
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return random.uniform(0.0, ceiling)


def redact(url: str) -> str:
    """The URL without its query string and user info, for logs and error messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class Traffic:
    """What a client sent and received: requests, retries and body bytes (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.bytes = 0

    def count(self, *, requests: int = 0, retries: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.bytes += nbytes


class HttpClient:
    """A requests session with railwatch's timeouts, retries and user agent.

    ``pool_size`` bounds the connections kept per host; set it to at least the number of threads
    that share the client.
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Any = time.sleep,
        pool_size: int = 16,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.traffic = Traffic()
        self._sleep = sleep

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        check: Callable[[requests.Response], str | None] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request, retrying what is worth retrying; raise :class:`NetworkError` at the end.

        ``check`` inspects a response that is not an HTTP error and returns a problem (such as
        a body shorter than announced) that makes the attempt count as failed and retried.
        """
        timeout = (self.policy.connect_timeout_s, self.policy.read_timeout_s)
        last_problem = "no attempt made"
        for attempt in range(1, self.policy.attempts + 1):
            retry_after = None
            self.traffic.count(requests=1, retries=int(attempt > 1))
            try:
                response = self.session.request(
                    method, url, headers=dict(headers or {}), timeout=timeout, **kwargs
                )
            except RETRY_EXCEPTIONS as err:
                last_problem = f"{err.__class__.__name__}"
            else:
                self.traffic.count(nbytes=len(response.content))
                problem = None
                if response.status_code in RETRY_STATUSES:
                    problem = f"HTTP {response.status_code}"
                    retry_after = response.headers.get("Retry-After")
                elif check is not None and response.status_code < 400:
                    problem = check(response)
                if problem is None:
                    return response
                last_problem = problem
                response.close()
            if attempt < self.policy.attempts:
                wait = self.policy.delay(attempt, retry_after)
                log.info("%s %s: %s; retry %d in %.1fs", method, redact(url), last_problem, attempt, wait)
                self._sleep(wait)
        raise NetworkError(
            f"{method} {redact(url)} failed after {self.policy.attempts} attempts ({last_problem})",
            hint="check the connection or the service status and run the command again",
        )

    def get_range(self, url: str, start: int, stop: int) -> tuple[bytes, int | None]:
        """Bytes ``start`` to ``stop - 1`` of ``url`` and the whole file's size when known.

        A reply shorter than the range it announces is retried like a dropped connection; a
        server that ignores ``Range`` and sends the whole file is sliced.
        """

        def short_body(response: requests.Response) -> str | None:
            if response.status_code == 206:
                match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not match:
                    return "206 reply without a valid Content-Range"
                first, last = int(match[1]), int(match[2])
                if first != start or len(response.content) != last - first + 1:
                    return f"truncated body ({len(response.content)} of {last - first + 1} bytes)"
            return None

        response = self.request("GET", url, headers={"Range": f"bytes={start}-{stop - 1}"}, check=short_body)
        if response.status_code == 206:
            total = CONTENT_RANGE.match(response.headers["Content-Range"])[3]  # type: ignore[index]
            return response.content, None if total == "*" else int(total)
        if response.status_code == 200:
            return response.content[start:stop], len(response.content)
        if response.status_code == 416:
            return b"", None
        raise NetworkError(
            f"GET {redact(url)} answered HTTP {response.status_code}",
            hint="the file is missing or not readable; check the URL or the catalog",
        )

    def get_json(self, url: str, **kwargs: Any) -> Any:
        response = self.request("GET", url, **kwargs)
        return _json_of(response, url)

    def post_json(self, url: str, **kwargs: Any) -> Any:
        response = self.request("POST", url, **kwargs)
        return _json_of(response, url)


def _json_of(response: requests.Response, url: str) -> Any:
    if response.status_code >= 400:
        raise NetworkError(
            f"{redact(url)} answered HTTP {response.status_code}",
            hint="check the URL and parameters",
        )
    try:
        return response.json()
    except ValueError as err:
        raise NetworkError(
            f"{redact(url)} did not answer JSON", hint="check that the URL is the API endpoint"
        ) from err
