"""`/dashboard` in a real headless Chromium: nothing without the admin key; with it, the figures
of real traffic, equal to what the spend API says, refreshed on their own."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from gateway.metric_summary import quantile
from tests.ops.traffic import (
    ADMIN_KEY,
    HELLO,
    admin_get,
    metric_sum,
    sdk,
    spend_by_workload,
    wait_for_ledger,
)

SPEND_FIELDS = ("cost_usd", "completed_cost_usd", "cancelled_cost_usd", "batch_savings_usd")
COUNT_FIELDS = ("requests", "completed", "cancelled", "failed", "cancelled_completion_tokens")


def shown_count(text: str) -> int:
    return int(text.replace(",", ""))


def assert_usd(text: str, expected: float) -> None:
    """`text` (as the page shows it, e.g. `$0.00003400`) is `expected` to its last digit."""
    assert text.startswith("$"), text
    number = text[1:].replace(",", "")
    decimals = len(number.partition(".")[2])
    assert abs(Decimal(number) - Decimal(repr(expected))) <= Decimal(5) / 10 ** (decimals + 1), (
        text,
        expected,
    )


def p50(exposition: str, name: str) -> float:
    """The median of histogram `name` (model gpt-test) from the /metrics text."""
    buckets = []
    for line in exposition.splitlines():
        if line.startswith(name + "_bucket{") and 'model="gpt-test"' in line:
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), float(line.rsplit(" ", 1)[1])))
    value = quantile(0.5, buckets)
    assert value is not None
    return value


def assert_close(text: str, expected: float) -> None:
    """`12.3 ms`, `1.25 s` or `100.0 tok/s` is `expected` to its last shown digit."""
    number, unit = text.split()
    scale = {"ms": 0.001, "s": 1.0, "tok/s": 1.0}[unit]
    digits = len(number.partition(".")[2])
    assert abs(float(number) * scale - expected) <= 0.51 * 10**-digits * scale, (text, expected)


def test_dashboard_shows_the_ledgers_figures(busy_gateway, browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url = busy_gateway.url
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    data_requests: list[dict[str, str]] = []

    def on_request(request) -> None:
        if "/v1/gateway/dashboard" in request.url:
            data_requests.append(request.headers)

    page.on("request", on_request)
    page.goto(f"{url}/dashboard")

    # Without the key: the sign-in form, and no figures anywhere.
    page.wait_for_selector("#admin-key", state="visible")
    assert page.locator("#figures").is_hidden()
    assert page.locator("#figures *").count() == 0
    assert "$" not in page.inner_text("body")
    page.fill("#admin-key", "not-the-admin-key")
    page.click("button[type=submit]")
    # (Locator waits, not wait_for_function: the page's CSP forbids the eval it polls with.)
    expect(page.locator("#sign-in-error")).to_contain_text("not accepted")
    assert page.locator("#figures *").count() == 0 and "$" not in page.inner_text("body")
    assert page.evaluate("sessionStorage.getItem('gateway.adminKey')") is None

    # With the key: the figures, equal to the spend API's.
    page.fill("#admin-key", ADMIN_KEY)
    page.click("button[type=submit]")
    page.wait_for_selector('tr[data-workload="chat-ui"]')
    spend = spend_by_workload(url)
    for workload, row in spend.items():
        cells = page.locator(f'tr[data-workload="{workload}"] td')

        def cell(field: str, cells=cells) -> str:
            return cells.and_(page.locator(f'[data-field="{field}"]')).inner_text().strip()

        for field in COUNT_FIELDS:
            assert shown_count(cell(field)) == row[field], (workload, field)
        row["completed_cost_usd"] = row["cost_usd"] - row["cancelled_cost_usd"]
        for field in SPEND_FIELDS:
            assert_usd(cell(field), row[field])
    chat = spend["chat-ui"]
    assert chat["cancelled"] == 1 and chat["cancelled_cost_usd"] > 0
    assert chat["cancelled_completion_tokens"] == 1
    total_cancelled = sum(r["cancelled_completion_tokens"] for r in spend.values())
    card = page.locator('[data-total="cancelled_completion_tokens"] .value').inner_text()
    assert shown_count(card) == total_cancelled
    assert_usd(
        page.locator('[data-total="cost_usd"] .value').inner_text(),
        sum(r["cost_usd"] for r in spend.values()),
    )

    # Measured figures: per model and per provider, as counted in /metrics.
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    model = page.locator('tr[data-model="gpt-test"]')
    measured = model.locator('[data-field="streams"]').inner_text()
    ttft_count = metric_sum(metrics, "gateway_time_to_first_token_seconds_count", model="gpt-test")
    assert shown_count(measured) == ttft_count
    ttft = model.locator('[data-field="ttft_p50"]').inner_text()
    assert_close(ttft, p50(metrics, "gateway_time_to_first_token_seconds"))
    speed = model.locator('[data-field="tps_p50"]').inner_text()
    assert_close(speed, p50(metrics, "gateway_output_tokens_per_second"))
    aborts = page.locator('tr[data-provider="sim"] [data-field="count"]').inner_text()
    assert shown_count(aborts) == 1
    assert page.locator("#queue").is_visible()
    # Deployments: health and counts as the deployments API has them.
    (served,) = [row for row in admin_get(url, "/v1/gateway/deployments")["data"]
                 if row["model"] == "gpt-test"]
    deployment = page.locator('tr[data-key="gpt-test/sim/sim-gpt"]')
    assert deployment.locator('[data-field="health"]').inner_text() == "ok"
    assert shown_count(deployment.locator('[data-field="calls"]').inner_text()) == served["calls"]
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    # It refreshes on its own: a new call shows up without touching the page.
    sdk(url, "key-etl").chat.completions.create(model="gpt-test", messages=HELLO)
    etl = wait_for_ledger(url, 8)["etl"]
    shown = page.locator('tr[data-workload="etl"] [data-field="requests"]')
    expect(shown).to_have_text(str(etl["requests"]), timeout=12_000)

    # Every data request carried the key; the key outlives a reload but not a sign-out.
    assert data_requests and all(
        h.get("authorization") in (f"Bearer {ADMIN_KEY}", "Bearer not-the-admin-key")
        for h in data_requests
    )
    page.reload()
    page.wait_for_selector('tr[data-workload="chat-ui"]')
    page.click("#sign-out")
    assert page.locator("#figures").is_hidden() and page.locator("#figures *").count() == 0
    assert page.evaluate("sessionStorage.getItem('gateway.adminKey')") is None
    page.close()


@pytest.fixture(autouse=True)
def _keep_screenshot(request, tmp_path: Path):
    yield
    shot = tmp_path / "dashboard.png"
    if shot.exists():
        print(f"dashboard screenshot: {shot}")


def test_dashboard_draws_batch_savings_and_queued_calls(busy_gateway, browser, tmp_path) -> None:
    """Figures the test traffic cannot produce yet, served to the page as data."""
    payload = admin_get(busy_gateway.url, "/v1/gateway/dashboard")
    row = payload["workloads"][0] | {"workload": "nightly-etl", "batch_savings_usd": 1234.5}
    payload["workloads"].append(row)
    payload["metrics"]["batch_queue_depth"] = [
        {"provider": "openai", "model": "gpt-4o-mini", "value": 1200},
        {"provider": "openai", "model": "gpt-4o", "value": 0},
        {"provider": "anthropic", "model": "claude-haiku-4-5", "value": 35},
    ]
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.route("**/v1/gateway/dashboard*", lambda route: route.fulfill(json=payload))
    page.goto(f"{busy_gateway.url}/dashboard")
    page.fill("#admin-key", ADMIN_KEY)
    page.click("button[type=submit]")
    page.wait_for_selector('tr[data-workload="nightly-etl"]')
    savings = page.locator('tr[data-workload="nightly-etl"] [data-field="batch_savings_usd"]')
    assert savings.inner_text() == "$1,234.50"
    assert page.locator('tr[data-workload="nightly-etl"] rect.savings').count() == 1
    queued = page.locator("#queue tbody tr")
    assert queued.count() == 2  # empty lanes are left out, the deepest first
    assert queued.nth(0).get_attribute("data-key") == "openai/gpt-4o-mini"
    assert queued.nth(0).locator('[data-field="value"]').inner_text() == "1,200"
    page.screenshot(path=str(tmp_path / "dashboard-batch.png"), full_page=True)
    page.close()
