"""The one HTTP seam: every request railwatch makes goes through :class:`HttpClient`.

It sets a user agent and timeouts, retries connection errors, 429 and 5xx with exponential
backoff and full jitter (honouring ``Retry-After``), and logs URLs without query strings or
headers so that signed tokens never reach a log.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from railwatch import __version__
from railwatch.errors import NetworkError

__all__ = ["HttpClient", "RetryPolicy", "redact"]

log = logging.getLogger(__name__)
USER_AGENT = f"railwatch/{__version__} (+https://pypi.org/project/railwatch/)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


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


class HttpClient:
    """A requests session with railwatch's timeouts, retries and user agent."""

    def __init__(self, policy: RetryPolicy | None = None, *, sleep: Any = time.sleep) -> None:
        self.policy = policy or RetryPolicy()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self._sleep = sleep

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request, retrying what is worth retrying; raise :class:`NetworkError` at the end."""
        timeout = (self.policy.connect_timeout_s, self.policy.read_timeout_s)
        last_problem = "no attempt made"
        for attempt in range(1, self.policy.attempts + 1):
            retry_after = None
            try:
                response = self.session.request(
                    method, url, headers=dict(headers or {}), timeout=timeout, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as err:
                last_problem = f"{err.__class__.__name__}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                last_problem = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After")
                response.close()
            if attempt < self.policy.attempts:
                wait = self.policy.delay(attempt, retry_after)
                log.info("%s %s: %s; retry %d in %.1fs", method, redact(url), last_problem, attempt, wait)
                self._sleep(wait)
        raise NetworkError(
            f"{method} {redact(url)} failed after {self.policy.attempts} attempts ({last_problem})",
            hint="check the connection or the service status and run the command again",
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
