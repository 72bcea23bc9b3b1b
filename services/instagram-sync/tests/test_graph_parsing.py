"""Meta's answers read the way reference A2/A3 describe them: errors by code and subcode (never by HTTP status),
usage headers keyed by account, both insights shapes, and which metric a refusal names."""

from __future__ import annotations

import json

import pytest

from instagram_sync.graph import InvalidParameter, PermissionMissing, Throttled, TokenInvalid, TransientGraphError
from instagram_sync.graph.errors import classify
from instagram_sync.graph.usage import app_usage, business_usage
from instagram_sync.insights import refused_metrics, time_series, total_values
from instagram_sync.reconnect import reconnect_reason


def error(code: int, subcode: int | None = None, message: str = "m", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}
    if subcode is not None:
        body["error_subcode"] = subcode
    return {"error": body | extra}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, error(80002), Throttled),
        (403, error(4), Throttled),
        (400, error(17), Throttled),
        (400, error(32), Throttled),
        (400, error(613), Throttled),
        (400, error(190, 463), TokenInvalid),
        (400, error(190), TokenInvalid),
        (400, error(10, message="(#10) Not enough viewers"), PermissionMissing),
        (400, error(200), PermissionMissing),
        (400, error(100, 2108006), InvalidParameter),
        (400, error(2, is_transient=True), TransientGraphError),
        (500, None, TransientGraphError),
        (200, error(80002), Throttled),  # the code decides, not the status
    ],
)
def test_errors_are_classified_by_code(status: int, body: object, kind: type[Exception]) -> None:
    assert type(classify(status, body)) is kind


def test_app_wide_throttles_and_reconnect_reasons() -> None:
    app = classify(400, error(4))
    account = classify(400, error(80002))
    assert isinstance(app, Throttled) and isinstance(account, Throttled)
    assert (app.app_wide, account.app_wide) == (True, False)
    reasons = [reconnect_reason(classify(400, error(190, sub))) for sub in (463, 458, 467, None)]  # type: ignore[arg-type]
    assert reasons == ["token_expired", "permission_revoked", "token_invalid", "token_invalid"]
    assert "fbtrace_id AbC" in str(account)


def test_usage_headers() -> None:
    header = json.dumps(
        {
            "1784": [
                {"type": "instagram", "call_count": 85, "total_cputime": 10, "total_time": 12,
                 "estimated_time_to_regain_access": 0, "new_key_from_meta": 1},
            ],
            "9999": [{"type": "instagram", "call_count": 100, "estimated_time_to_regain_access": 7}],
        }
    )  # fmt: skip
    mine = business_usage(header, "1784")
    assert mine is not None and (mine.percent, mine.regain_minutes) == (85.0, 0.0)
    other = business_usage(header, "9999")
    assert other is not None and other.regain_minutes == 7.0
    assert business_usage(header, "1") is None
    assert business_usage(None, "1784") is None, "absence is not zero usage"
    assert business_usage("not json", "1784") is None
    usage = app_usage('{"call_count": 3, "total_cputime": 91, "total_time": 5}')
    assert usage is not None and usage.percent == 91.0


def test_both_insights_shapes() -> None:
    totals = total_values(
        {
            "data": [
                {"name": "views", "period": "day", "total_value": {"value": 120}},
                {"name": "follower_demographics", "period": "lifetime", "total_value": {"breakdowns": [
                    {"dimension_keys": ["age"], "results": [{"dimension_values": ["18-24"], "value": 5}]}]}},
                {"name": "reach", "period": "day", "values": [{"value": 3, "end_time": "2026-12-01T08:00:00+0000"},
                                                             {"value": 4, "end_time": "2026-12-02T08:00:00+0000"}]},
            ]
        }
    )  # fmt: skip
    assert [(t.metric, t.value, t.breakdowns) for t in totals] == [
        ("views", 120.0, {}),
        ("follower_demographics", None, {"18-24": 5.0}),
        ("reach", 7.0, {}),
    ]
    series = time_series(
        {"data": [{"name": "reach", "values": [{"value": 3, "end_time": "2026-12-01T08:00:00+0000"}]}]}
    )
    assert [(m, v, t.isoformat()) for m, t, v in series] == [("reach", 3.0, "2026-12-01T08:00:00+00:00")]
    assert total_values({"data": []}) == []


def test_refused_metrics_from_the_message() -> None:
    listed = classify(
        400, error(100, message="(#100) metric[1] must be one of the following values: reach, views, saves")
    )
    indexed = classify(400, error(100, message="(#100) metric[1] is not valid"))
    other = classify(400, error(100, 2108006, message="Media posted before business account conversion"))
    assert isinstance(listed, InvalidParameter) and isinstance(indexed, InvalidParameter)
    assert isinstance(other, InvalidParameter)
    assert refused_metrics(listed, ["views", "impressions", "reach", "plays"]) == ["impressions", "plays"]
    assert refused_metrics(indexed, ["views", "impressions"]) == ["impressions"]
    assert refused_metrics(other, ["views"]) == []
