"""Account insights `GET /{ig-user-id}/insights` (reference A2, C1.6): validation of metric, period, metric_type,
breakdown, timeframe and the since/until window; the time_series and total_value shapes; small-account gaps and the
top-45 cap of demographics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

from ._errors import invalid_parameter, must_be_one_of
from ._models import InstagramAccount
from ._values import split, stable_int

TIME_SERIES = "time_series"
TOTAL_VALUE = "total_value"
PERIODS = ("day", "week", "days_28", "month", "lifetime", "total_over_range")
MAX_WINDOW = timedelta(days=30)
DEMOGRAPHIC_CAP = 45
TIMEFRAMES = ("this_month", "this_week")


@dataclass(frozen=True)
class AccountMetric:
    title: str
    periods: frozenset[str]
    shapes: frozenset[str] = frozenset({TOTAL_VALUE})
    breakdowns: frozenset[str] = frozenset()
    demographic: bool = False
    timeframe_required: bool = False
    hidden_for_small_accounts: bool = False
    min_version: int = 0


_DAY_WEEK_28 = frozenset({"day", "week", "days_28"})
_DAY = frozenset({"day"})
_DEMOGRAPHIC_BREAKDOWNS = frozenset({"age", "city", "country", "gender"})
ACCOUNT_METRICS: dict[str, AccountMetric] = {
    "reach": AccountMetric(
        "Accounts reached", _DAY_WEEK_28, frozenset({TIME_SERIES, TOTAL_VALUE}),
        frozenset({"media_product_type", "follow_type"}),
    ),
    "views": AccountMetric(
        "Views", _DAY_WEEK_28, breakdowns=frozenset({"follower_type", "media_product_type"}), min_version=22
    ),
    "total_interactions": AccountMetric(
        "Content interactions", _DAY_WEEK_28, breakdowns=frozenset({"media_product_type"})
    ),
    "accounts_engaged": AccountMetric("Accounts engaged", _DAY),
    "follower_count": AccountMetric(
        "Follower count", frozenset({"day", "lifetime"}), frozenset({TIME_SERIES}), hidden_for_small_accounts=True
    ),
    "online_followers": AccountMetric(
        "Online followers", frozenset({"lifetime"}), frozenset({TIME_SERIES}), hidden_for_small_accounts=True
    ),
    "likes": AccountMetric("Likes", _DAY, breakdowns=frozenset({"media_product_type"})),
    "comments": AccountMetric("Comments", _DAY, breakdowns=frozenset({"media_product_type"})),
    "shares": AccountMetric("Shares", _DAY, breakdowns=frozenset({"media_product_type"})),
    "saves": AccountMetric("Saves", _DAY, breakdowns=frozenset({"media_product_type"})),
    "replies": AccountMetric("Replies", _DAY),
    "profile_links_taps": AccountMetric("Profile links taps", _DAY, breakdowns=frozenset({"contact_button_type"})),
    "follows_and_unfollows": AccountMetric("Follows and unfollows", _DAY, breakdowns=frozenset({"follow_type"})),
    "follower_demographics": AccountMetric(
        "Follower demographics", frozenset({"lifetime"}), breakdowns=_DEMOGRAPHIC_BREAKDOWNS, demographic=True,
        hidden_for_small_accounts=True,
    ),
    "engaged_audience_demographics": AccountMetric(
        "Engaged audience demographics", frozenset({"lifetime"}), breakdowns=_DEMOGRAPHIC_BREAKDOWNS, demographic=True,
        timeframe_required=True, hidden_for_small_accounts=True,
    ),
    "reached_audience_demographics": AccountMetric(
        "Reached audience demographics", frozenset({"lifetime"}), breakdowns=_DEMOGRAPHIC_BREAKDOWNS, demographic=True,
        timeframe_required=True, hidden_for_small_accounts=True,
    ),
}  # fmt: skip

_AGES = ["13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
_GENDERS = ["F", "M", "U"]
_COUNTRIES = [
    "DE", "AT", "CH", "FR", "IT", "ES", "PT", "NL", "BE", "LU", "DK", "SE", "NO", "FI", "IS", "IE", "GB", "PL", "CZ",
    "SK", "HU", "SI", "HR", "RO", "BG", "GR", "CY", "MT", "EE", "LV", "LT", "UA", "TR", "US", "CA", "MX", "BR", "AR",
    "CL", "CO", "PE", "AU", "NZ", "JP", "KR", "CN", "IN", "ID", "TH", "VN", "PH", "MY", "SG", "ZA", "EG", "MA", "NG",
    "KE", "AE", "IL",
]  # fmt: skip
_CITIES = [
    f"{city}, {region}"
    for region, cities in {
        "Berlin": ["Berlin"],
        "Bavaria": ["Munich", "Nuremberg", "Augsburg", "Regensburg", "Würzburg", "Ingolstadt"],
        "Hamburg": ["Hamburg"],
        "Hesse": ["Frankfurt", "Wiesbaden", "Kassel", "Darmstadt", "Offenbach", "Hanau", "Giessen", "Marburg"],
        "North Rhine-Westphalia": [
            "Cologne", "Düsseldorf", "Dortmund", "Essen", "Duisburg", "Bochum", "Wuppertal", "Bielefeld", "Bonn",
            "Münster", "Aachen", "Gelsenkirchen", "Mönchengladbach", "Krefeld", "Oberhausen", "Hagen", "Hamm",
        ],
        "Baden-Württemberg": ["Stuttgart", "Mannheim", "Karlsruhe", "Freiburg", "Heidelberg", "Ulm", "Heilbronn"],
        "Saxony": ["Leipzig", "Dresden", "Chemnitz", "Zwickau"],
        "Lower Saxony": ["Hanover", "Brunswick", "Oldenburg", "Osnabrück", "Wolfsburg", "Göttingen"],
        "Bremen": ["Bremen", "Bremerhaven"],
        "Vienna": ["Vienna"],
        "Zurich": ["Zurich", "Winterthur"],
    }.items()
    for city in cities
]  # fmt: skip
BREAKDOWN_VALUES: dict[str, list[str]] = {
    "age": _AGES,
    "gender": _GENDERS,
    "country": _COUNTRIES,
    "city": _CITIES,
    "media_product_type": ["AD", "CAROUSEL_CONTAINER", "POST", "REEL", "STORY"],
    "follow_type": ["FOLLOWER", "NON_FOLLOWER"],
    "follower_type": ["FOLLOWER", "NON_FOLLOWER"],
    "contact_button_type": ["BOOK_NOW", "CALL", "DIRECTION", "EMAIL", "TEXT", "UNDEFINED"],
}


@dataclass(frozen=True)
class InsightsQuery:
    metrics: list[str]
    period: str
    shape: str
    breakdowns: list[str]
    timeframe: str | None
    since: datetime
    until: datetime


def parse_query(params: Mapping[str, str], *, now: datetime, version: int | None) -> InsightsQuery:
    """Meta's checks in Meta's order; every refusal is code 100 (reference C1.6)."""
    metrics = [m for m in (params.get("metric") or "").split(",") if m]
    if not metrics:
        raise invalid_parameter("The parameter metric is required")
    for index, name in enumerate(metrics):
        metric = ACCOUNT_METRICS.get(name)
        if metric is None or (version is not None and version < metric.min_version):
            allowed = [m for m, spec in ACCOUNT_METRICS.items() if version is None or version >= spec.min_version]
            raise must_be_one_of(f"metric[{index}]", allowed)
    period = params.get("period")
    if period not in PERIODS:
        raise must_be_one_of("period", list(PERIODS))
    specs = [ACCOUNT_METRICS[m] for m in metrics]
    if unfit := [m for m, spec in zip(metrics, specs, strict=True) if period not in spec.periods]:
        raise invalid_parameter(f"The following metrics ({', '.join(unfit)}) do not support period {period}")
    shape = params.get("metric_type", TIME_SERIES)
    if shape not in (TIME_SERIES, TOTAL_VALUE):
        raise must_be_one_of("metric_type", [TIME_SERIES, TOTAL_VALUE])
    if unfit := [m for m, spec in zip(metrics, specs, strict=True) if shape not in spec.shapes]:
        raise invalid_parameter(
            f"The following metrics ({', '.join(unfit)}) should be specified with parameter metric_type="
            + (TOTAL_VALUE if shape == TIME_SERIES else TIME_SERIES)
        )
    breakdowns = [b for b in (params.get("breakdown") or "").split(",") if b]
    if breakdowns and shape != TOTAL_VALUE:
        raise invalid_parameter("breakdown is only supported with metric_type=total_value")
    for name, spec in zip(metrics, specs, strict=True):
        if spec.demographic and not breakdowns:
            raise invalid_parameter(f"The metric ({name}) requires a breakdown: one of age, city, country, gender")
        if unsupported := [b for b in breakdowns if b not in spec.breakdowns]:
            raise invalid_parameter(f"The metric ({name}) does not support the breakdown {', '.join(unsupported)}")
    timeframe = params.get("timeframe")
    timeframe_needed = timeframe is not None or any(spec.timeframe_required for spec in specs)
    if timeframe_needed and timeframe not in TIMEFRAMES:
        raise must_be_one_of("timeframe", list(TIMEFRAMES))
    since, until = _window(params, now)
    return InsightsQuery(metrics, period, shape, breakdowns, timeframe, since, until)


def _window(params: Mapping[str, str], now: datetime) -> tuple[datetime, datetime]:
    def moment(name: str) -> datetime | None:
        raw = params.get(name)
        if raw is None:
            return None
        if not raw.lstrip("-").isdigit():
            raise invalid_parameter(f"The parameter {name} must be a unix timestamp")
        return datetime.fromtimestamp(int(raw), UTC)

    until = moment("until") or now
    since = moment("since") or until - timedelta(days=2)
    if since > until:
        raise invalid_parameter("The since timestamp must be before the until timestamp")
    if until - since > MAX_WINDOW:
        raise invalid_parameter("There cannot be more than 30 days (2592000 s) between since and until")
    return since, until


def day_ends(since: datetime, until: datetime) -> list[datetime]:
    """The 07:00 UTC day boundaries (Meta's `end_time`, Pacific midnight) in (since, until]."""
    first = since.astimezone(UTC).replace(hour=7, minute=0, second=0, microsecond=0)
    if first <= since:
        first += timedelta(days=1)
    ends = []
    while first <= until:
        ends.append(first)
        first += timedelta(days=1)
    return ends


def graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def account_insights(
    account: InstagramAccount, query: InsightsQuery, *, now: datetime, page_url: Callable[[int, int], str]
) -> dict[str, Any]:
    """`page_url(since, until)`: the absolute URL of the same query over another window (time-based paging)."""
    data = [
        _metric(account, name, query, now)
        for name in query.metrics
        if not (account.small and ACCOUNT_METRICS[name].hidden_for_small_accounts)
    ]
    body: dict[str, Any] = {"data": data}
    if query.shape == TIME_SERIES:
        since, until = int(query.since.timestamp()), int(query.until.timestamp())
        span = until - since
        body["paging"] = {"previous": page_url(since - span, since), "next": page_url(until, until + span)}
    return body


def _metric(account: InstagramAccount, name: str, query: InsightsQuery, now: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": name,
        "period": query.period,
        "title": ACCOUNT_METRICS[name].title,
        "description": f"{ACCOUNT_METRICS[name].title} of the account",
        "id": f"{account.id}/insights/{name}/{query.period}",
    }
    if query.shape == TIME_SERIES:
        item["values"] = [
            {"value": _daily(account, name, query.period, end), "end_time": graph_time(end)}
            for end in day_ends(query.since, min(query.until, now))
        ]
        return item
    if ACCOUNT_METRICS[name].demographic:
        item["total_value"] = {"breakdowns": [_demographics(account, name, query)]}
        return item
    total = sum(_scalar(account, name, query.period, end) for end in day_ends(query.since, query.until))
    item["total_value"] = {"value": total}
    if query.breakdowns:
        keys = [list(values) for values in product(*(BREAKDOWN_VALUES[b] for b in query.breakdowns))]
        shares = split(total, ["|".join(k) for k in keys], account.id, name, query.since.date())
        item["total_value"]["breakdowns"] = [
            {
                "dimension_keys": query.breakdowns,
                "results": [{"dimension_values": key.split("|"), "value": value} for key, value in shares if value > 0],
            }
        ]
    return item


def _scalar(account: InstagramAccount, name: str, period: str, end: datetime) -> int:
    scale = max(1, account.followers_count // 10)
    multiplier = {"day": 1, "week": 5, "days_28": 18}.get(period, 1)
    return multiplier * stable_int(account.id, name, end.date(), low=scale // 4, high=scale)


def _daily(account: InstagramAccount, name: str, period: str, end: datetime) -> Any:
    if name == "follower_count":
        return stable_int(account.id, name, end.date(), low=0, high=max(1, account.followers_count // 100))
    if name == "online_followers":
        return {str(hour): stable_int(account.id, name, end.date(), hour, low=0, high=account.followers_count // 3)
                for hour in range(24)}  # fmt: skip
    return _scalar(account, name, period, end)


def _demographics(account: InstagramAccount, name: str, query: InsightsQuery) -> dict[str, Any]:
    """Only the top 45 values, largest first (reference A2: demographics return the top 45)."""
    combos = [list(values) for values in product(*(BREAKDOWN_VALUES[b] for b in query.breakdowns))]
    audience = account.followers_count if name == "follower_demographics" else account.followers_count // 3
    if query.timeframe == "this_week":
        audience //= 4
    counted = [
        (combo, stable_int(account.id, name, query.timeframe, *combo, low=0, high=max(1, audience // len(combos) * 2)))
        for combo in combos
    ]
    top = sorted((c for c in counted if c[1] > 0), key=lambda c: (-c[1], c[0]))[:DEMOGRAPHIC_CAP]
    return {
        "dimension_keys": query.breakdowns,
        "results": [{"dimension_values": combo, "value": value} for combo, value in top],
    }
