"""SLI queries against Prometheus through prometheus-api-client, with timeouts and explicit errors.

Every query has a timeout (default 2 s) and no retries: the guard samples every second and must
see an outage as an outage, not as a slow success. Failures are typed so the guard (fail closed)
and preflight (refuse) can say exactly what was wrong:

* :class:`PrometheusUnreachable`: connection refused/reset, timeout, non-200 status.
* :class:`EmptyResult`: the query matched no series (e.g. ``rate()`` of an absent series).
* :class:`NotANumber`: the value is NaN or infinite (e.g. 0/0 for an error ratio without traffic).
* :class:`BadQuery`: Prometheus rejected the PromQL (HTTP 400) — a catalog problem.

All are :class:`chaosrunner.slo.catalog.SliUnavailable`, so the guard treats them alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chaosrunner.slo.source import SliUnavailable

DEFAULT_TIMEOUT_S = 2.0


BATCH_LABEL = "chaosrunner_q"  # the tag of each expression in a batched read (scalars)


class PrometheusUnreachable(SliUnavailable):
    kind = "unreachable"


class EmptyResult(SliUnavailable):
    kind = "empty"
    source_failed = False


class NotANumber(SliUnavailable):
    kind = "nan"
    source_failed = False


class BadQuery(SliUnavailable):
    kind = "bad-query"


class MalformedAnswer(SliUnavailable):
    kind = "malformed"


class PrometheusSource:
    """An :class:`chaosrunner.slo.catalog.SliSource` backed by one Prometheus server.

    ``scalar`` sums every series of an instant vector (queries are expected to aggregate already)
    and returns a float; a scalar result is returned as is.
    """

    def __init__(
        self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, headers: dict[str, str] | None = None
    ) -> None:
        import requests
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        session = requests.Session()
        self._client = PrometheusConnect(
            url=self.url,
            headers=headers,
            disable_ssl=False,
            retry=Retry(total=0, connect=0, read=0, redirect=0, status=0),
            session=session,
            timeout=timeout_s,
        )

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Raw instant-query result (list of series); raises the typed errors above."""
        import requests
        from prometheus_api_client.exceptions import PrometheusApiClientException

        try:
            result = self._client.custom_query(promql, timeout=self.timeout_s)
        except requests.exceptions.RequestException as e:
            raise PrometheusUnreachable(f"prometheus at {self.url} unreachable: {type(e).__name__}") from None
        except PrometheusApiClientException as e:
            text = str(e)
            if "400" in text.split(")")[0] or "422" in text.split(")")[0]:
                raise BadQuery(f"prometheus rejected the query {promql!r}: {text[:300]}") from None
            raise PrometheusUnreachable(f"prometheus at {self.url} answered {text[:200]}") from None
        except (ValueError, KeyError, TypeError) as e:
            raise PrometheusUnreachable(f"prometheus at {self.url} sent an unreadable answer: {e}") from None
        if not isinstance(result, list):  # e.g. HTTP 200 with "result": null
            raise MalformedAnswer(f"prometheus at {self.url} answered {type(result).__name__} for {promql!r}")
        return result

    def scalar(self, promql: str) -> float:
        """One finite number (sum over the returned series)."""
        result = self.query(promql)
        if not result:
            raise EmptyResult(f"no data for {promql!r}")
        if len(result) == 2 and not isinstance(result[0], dict):  # resultType scalar: [ts, "value"]
            result = [{"value": result}]
        total = 0.0
        for series in result:
            value = series.get("value") if isinstance(series, dict) else None
            try:
                total += float(value[1])  # type: ignore[index]
            except (TypeError, ValueError, IndexError):
                raise NotANumber(f"unreadable value for {promql!r}: {value!r}") from None
        if not math.isfinite(total):
            raise NotANumber(f"{promql!r} is {total}")
        return total

    def scalars(self, exprs: Sequence[str]) -> list[float | SliUnavailable]:
        """Many :meth:`scalar` reads in one HTTP query: each expression is tagged with its index
        (``label_replace(…, "chaosrunner_q", "i", "", "")``) and the tagged vectors are joined with ``or``
        (distinct tags: nothing is dropped). Per expression a number, or the error :meth:`scalar` would have
        raised (:class:`EmptyResult`, :class:`NotANumber`). The whole batch raises when the query does
        (unreachable, malformed answer, or a bad query — e.g. an expression that is a scalar, not a vector:
        read those one by one)."""
        if len(exprs) == 1:
            try:
                return [self.scalar(exprs[0])]
            except (EmptyResult, NotANumber) as e:
                return [e]
        joined = " or ".join(f'label_replace(({e}), "{BATCH_LABEL}", "{i}", "", "")' for i, e in enumerate(exprs))
        sums: dict[int, float] = {}
        for series in self.query(joined):
            metric = series.get("metric") if isinstance(series, dict) else None
            value = series.get("value") if isinstance(series, dict) else None
            try:
                i = int((metric or {})[BATCH_LABEL])
                sums[i] = sums.get(i, 0.0) + float(value[1])  # type: ignore[index]
            except (KeyError, TypeError, ValueError, IndexError):
                raise MalformedAnswer(f"prometheus at {self.url} answered an unreadable series") from None
        out: list[float | SliUnavailable] = []
        for i, expr in enumerate(exprs):
            if i not in sums:
                out.append(EmptyResult(f"no data for {expr!r}"))
            elif not math.isfinite(sums[i]):
                out.append(NotANumber(f"{expr!r} is {sums[i]}"))
            else:
                out.append(sums[i])
        return out

    def series(self, promql: str) -> list[tuple[float, float]]:
        """(timestamp, value) points of a range-vector query (e.g. a subquery ``(expr)[60s:1s]``), summed
        across series per timestamp, NaN/Inf dropped; raises the typed errors above."""
        out: dict[float, float] = {}
        for series in self.query(promql):
            for point in series.get("values") or [] if isinstance(series, dict) else []:
                try:
                    ts, v = float(point[0]), float(point[1])
                except (TypeError, ValueError, IndexError):
                    continue
                if math.isfinite(v):
                    out[ts] = out.get(ts, 0.0) + v
        return sorted(out.items())

    def healthy(self) -> bool:
        """``/-/healthy`` answers 200 within the timeout."""
        try:
            return bool(self._client.check_prometheus_connection())
        except Exception:  # noqa: BLE001 - any failure means not healthy
            return False
