from datetime import date

from backend.domain.consent_chart import DailyCount, build_charts, days_back


def test_series_are_grouped_by_topic_and_channel_and_scaled_to_the_maximum() -> None:
    days = days_back(date(2026, 11, 23), 3)
    assert days == [date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23)]
    counts = [
        DailyCount(date(2026, 11, 21), "news", "email", "subscribed", 4),
        DailyCount(date(2026, 11, 23), "news", "email", "unsubscribed", 2),
        DailyCount(date(2026, 11, 22), "offers", "sms", "subscribed", 1),
        DailyCount(date(2026, 10, 1), "news", "email", "subscribed", 99),  # outside the window
    ]
    charts = build_charts(counts, days)
    assert [(c.subscription, c.channel) for c in charts] == [("news", "email"), ("offers", "sms")]
    news = charts[0]
    assert (news.opt_ins, news.opt_outs, news.y_max) == (4, 2, 4)
    # The first opt-in point is at the top (the maximum), the last opt-out point halfway up.
    first_in = news.opt_in_points.split()[0].split(",")
    last_out = news.opt_out_points.split()[-1].split(",")
    assert float(first_in[1]) == 8.0
    assert float(last_out[1]) == 8.0 + 94 / 2
