// The gateway dashboard: asks for the admin key, then fetches /v1/gateway/dashboard every 5 s
// and draws the figures with plain DOM and inline SVG (no libraries, no network but the gateway).
"use strict";

(() => {
  const KEY = "gateway.adminKey";
  const REFRESH_MS = 5000;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  let timer = null;
  let generation = 0; // a sign-out or a new key makes older answers stale

  // ---- formatting -------------------------------------------------------------------------
  function usd(value) {
    const v = Number(value) || 0;
    if (v === 0) return "$0.00";
    const abs = Math.abs(v);
    // Two decimals for dollars; for fractions of a cent, four significant digits.
    const decimals = abs >= 0.01 ? 2 : Math.min(10, Math.ceil(-Math.log10(abs)) + 3);
    return (v < 0 ? "-$" : "$") + abs.toLocaleString("en-US", {
      minimumFractionDigits: decimals, maximumFractionDigits: decimals,
    });
  }
  const count = (v) => Math.round(Number(v) || 0).toLocaleString("en-US");
  function seconds(v) {
    if (v === null || v === undefined) return "–";
    if (v < 1) return (v * 1000).toFixed(v < 0.01 ? 2 : 1) + " ms";
    return v.toFixed(2) + " s";
  }
  const rate = (v) => (v === null || v === undefined ? "–" : v.toFixed(1) + " tok/s");

  // ---- DOM helpers ------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  // A horizontal bar of stacked parts [{value, cls, label}], scaled so `max` fills the width.
  function bar(parts, max, title) {
    const width = 160;
    const chart = svg("svg", {
      class: "bar-chart", viewBox: `0 0 ${width} 12`, width: String(width), height: "12",
      role: "img", "aria-label": title,
    });
    chart.append(svg("rect", { class: "track", x: "0", y: "0", width: String(width), height: "12", rx: "2" }));
    let x = 0;
    for (const part of parts) {
      const w = max > 0 ? (part.value / max) * width : 0;
      if (w <= 0) continue;
      const rect = svg("rect", {
        class: part.cls, x: x.toFixed(2), y: "0", width: Math.max(w, 1).toFixed(2), height: "12",
      });
      const tip = svg("title", {});
      tip.textContent = part.label;
      rect.append(tip);
      chart.append(rect);
      x += w;
    }
    return chart;
  }

  function card(field, label, value, cls) {
    return el("div", { class: "card " + (cls || ""), "data-total": field },
      el("div", { class: "label" }, label), el("div", { class: "value" }, value));
  }

  // columns: [{field, title, format, numeric, chart}]; `rowKey` names the data-* attribute.
  function table(columns, rows, rowKey, caption) {
    const head = el("tr", {}, ...columns.map((c) => el("th", { class: c.numeric ? "num" : "" }, c.title)));
    const body = rows.map((row) => el("tr", { ["data-" + rowKey]: row[rowKey] },
      ...columns.map((c) => {
        const cell = el("td", { "data-field": c.field, class: c.numeric ? "num" : "" });
        if (c.chart) cell.append(c.chart(row));
        else cell.append(c.format ? c.format(row[c.field], row) : String(row[c.field]));
        return cell;
      })));
    return el("table", {}, el("caption", {}, caption), el("thead", {}, head), el("tbody", {}, ...body));
  }

  function section(id, title, ...content) {
    return el("section", { id, class: "panel" }, el("h2", {}, title), ...content);
  }

  const empty = (text) => el("p", { class: "empty" }, text);
  const maxOf = (rows, pick) => rows.reduce((m, r) => Math.max(m, pick(r) || 0), 0);

  // ---- the figures ------------------------------------------------------------------------
  function spendSection(data) {
    const rows = data.workloads;
    const t = data.totals;
    const cards = el("div", { class: "cards" },
      card("cost_usd", "Total spend", usd(t.cost_usd)),
      card("completed_cost_usd", "Completed", usd(t.completed_cost_usd), "completed"),
      card("cancelled_cost_usd", "Cancelled", usd(t.cancelled_cost_usd), "cancelled"),
      card("batch_savings_usd", "Batch savings", usd(t.batch_savings_usd), "savings"),
      card("cancelled_completion_tokens", "Cancelled tokens", count(t.cancelled_completion_tokens)),
      card("requests", "Requests", count(t.requests)),
      card("ledger_pending", "Ledger pending", count(data.metrics.ledger_pending)));
    if (!rows.length) return section("spend", "Spend per workload", cards, empty("No calls recorded yet."));
    const widest = maxOf(rows, (r) => r.cost_usd + r.batch_savings_usd);
    const split = (r) => bar([
      { value: r.completed_cost_usd, cls: "completed", label: "completed " + usd(r.completed_cost_usd) },
      { value: r.cancelled_cost_usd, cls: "cancelled", label: "cancelled " + usd(r.cancelled_cost_usd) },
      { value: r.batch_savings_usd, cls: "savings", label: "batch savings " + usd(r.batch_savings_usd) },
    ], widest, "spend split of " + r.workload);
    const columns = [
      { field: "workload", title: "Workload" },
      { field: "requests", title: "Requests", format: count, numeric: true },
      { field: "completed", title: "Completed", format: count, numeric: true },
      { field: "cancelled", title: "Cancelled", format: count, numeric: true },
      { field: "failed", title: "Failed", format: count, numeric: true },
      { field: "split", title: "Spend split", chart: split },
      { field: "completed_cost_usd", title: "Completed spend", format: usd, numeric: true },
      { field: "cancelled_cost_usd", title: "Cancelled spend", format: usd, numeric: true },
      { field: "batch_savings_usd", title: "Batch savings", format: usd, numeric: true },
      { field: "cost_usd", title: "Total spend", format: usd, numeric: true },
      { field: "cancelled_completion_tokens", title: "Cancelled tokens", format: count, numeric: true },
    ];
    const legend = el("p", { class: "legend" },
      el("span", { class: "key completed" }), "completed ",
      el("span", { class: "key cancelled" }), "cancelled ",
      el("span", { class: "key savings" }), "saved by the batch lane");
    return section("spend", "Spend per workload", cards,
      table(columns, rows, "workload", "From the ledger" + (data.since ? ", last " + data.since : "")),
      legend);
  }

  function modelSection(metrics) {
    const byModel = new Map();
    for (const h of metrics.time_to_first_token_seconds) byModel.set(h.model, { model: h.model, ttft: h });
    for (const h of metrics.output_tokens_per_second) {
      byModel.set(h.model, Object.assign(byModel.get(h.model) || { model: h.model }, { tps: h }));
    }
    const rows = [...byModel.values()].sort((a, b) => a.model.localeCompare(b.model));
    if (!rows.length) return section("models", "Time to first token and output speed per model", empty("No calls measured yet."));
    const slowest = maxOf(rows, (r) => r.ttft && r.ttft.p50);
    const fastest = maxOf(rows, (r) => r.tps && r.tps.p50);
    const pick = (kind, stat) => (r) => (r[kind] ? r[kind][stat] : null);
    const columns = [
      { field: "model", title: "Model" },
      { field: "ttft_p50", title: "TTFT p50", numeric: true, format: (v, r) => seconds(pick("ttft", "p50")(r)) },
      { field: "ttft_chart", title: "", chart: (r) => bar([{ value: pick("ttft", "p50")(r) || 0, cls: "ttft", label: "TTFT p50" }], slowest, "TTFT p50 of " + r.model) },
      { field: "ttft_p95", title: "TTFT p95", numeric: true, format: (v, r) => seconds(pick("ttft", "p95")(r)) },
      { field: "ttft_mean", title: "TTFT mean", numeric: true, format: (v, r) => seconds(pick("ttft", "mean")(r)) },
      { field: "tps_p50", title: "Output p50", numeric: true, format: (v, r) => rate(pick("tps", "p50")(r)) },
      { field: "tps_chart", title: "", chart: (r) => bar([{ value: pick("tps", "p50")(r) || 0, cls: "tps", label: "output tokens/s p50" }], fastest, "output speed of " + r.model) },
      { field: "tps_mean", title: "Output mean", numeric: true, format: (v, r) => rate(pick("tps", "mean")(r)) },
      { field: "streams", title: "Calls measured", numeric: true, format: (v, r) => count(pick("ttft", "count")(r)) },
    ];
    return section("models", "Time to first token and output speed per model",
      table(columns, rows, "model", "Measured by the gateway (p50/p95 estimated from histogram buckets)"));
  }

  function abortSection(metrics) {
    const rows = metrics.upstream_abort_seconds;
    if (!rows.length) return section("abort", "Abort delay (client gone → upstream closed)", empty("No aborted calls yet."));
    const columns = [
      { field: "provider", title: "Provider" },
      { field: "p50", title: "p50", format: seconds, numeric: true },
      { field: "p95", title: "p95", format: seconds, numeric: true },
      { field: "mean", title: "Mean", format: seconds, numeric: true },
      { field: "count", title: "Aborts", format: count, numeric: true },
    ];
    return section("abort", "Abort delay (client gone → upstream closed)", table(columns, rows, "provider", "Per provider"));
  }

  function queueSection(metrics) {
    const lanes = metrics.batch_queue_depth;
    const rows = lanes.filter((r) => r.value > 0)
      .map((r) => Object.assign({ key: r.provider + "/" + r.model }, r))
      .sort((a, b) => b.value - a.value);
    if (!rows.length) {
      const watched = lanes.length ? ` (${lanes.length} lane${lanes.length > 1 ? "s" : ""} watched)` : "";
      return section("queue", "Batch queue depth", empty("No batch calls queued" + watched + "."));
    }
    const deepest = maxOf(rows, (r) => r.value);
    const columns = [
      { field: "provider", title: "Provider" },
      { field: "model", title: "Model" },
      { field: "value", title: "Queued calls", format: count, numeric: true },
      { field: "chart", title: "", chart: (r) => bar([{ value: r.value, cls: "queue", label: "queued" }], deepest, "queue of " + r.key) },
    ];
    return section("queue", "Batch queue depth", table(columns, rows, "key", "Calls waiting in the batch lane"));
  }

  function deploymentSection(rows) {
    const title = "Deployments";
    if (!rows || !rows.length) return section("deployments", title, empty("No models configured."));
    const health = (v, r) => (v === "ok" ? "ok" : "cooling down until " +
      new Date(r.cooling_down_until).toLocaleTimeString());
    const lastError = (v, r) => {
      const last = r.recent_errors[r.recent_errors.length - 1];
      return last ? `${last.outcome} (${last.status}): ${last.message}` : "–";
    };
    const columns = [
      { field: "model", title: "Model" },
      { field: "deployment", title: "Deployment" },
      { field: "health", title: "Health", format: health },
      { field: "in_flight", title: "In flight", format: count, numeric: true },
      { field: "ttft_seconds", title: "TTFT (moving)", format: seconds, numeric: true },
      { field: "output_tokens_per_second", title: "Output (moving)", format: rate, numeric: true },
      { field: "calls", title: "Answered", format: count, numeric: true },
      { field: "failures", title: "Failures", format: count, numeric: true },
      { field: "recent_errors", title: "Last error", format: lastError },
    ];
    const keyed = rows.map((r) => Object.assign({ key: r.model + "/" + r.deployment }, r));
    return section("deployments", title, table(columns, keyed, "key",
      "Health shared by the replicas on one Redis; figures measured by this process"));
  }

  function budgetSection(budgets) {
    const title = "Budgets and limits";
    if (budgets === null) return section("budgets", title, empty("The limits' store is unavailable."));
    if (!budgets.length) return section("budgets", title, empty("No workload or key has limits."));
    const rows = budgets.map((b) => Object.assign({
      key: b.scope === "workload" ? b.workload : b.workload + " / key " + (b.prefix || b.key_id),
    }, b));
    const money = (period, name) => (v, r) => (r[period] ? usd(r[period][name]) : "–");
    const headroom = (period) => (r) => {
      const b = r[period];
      if (!b) return document.createTextNode("–");
      return bar([
        { value: b.spent, cls: "completed", label: "spent " + usd(b.spent) },
        { value: b.reserved, cls: "cancelled", label: "reserved by calls in flight " + usd(b.reserved) },
      ], b.budget, period + " of " + r.key);
    };
    const rate = (kind) => (v, r) => (r[kind] ? count(r[kind].remaining) + " / " + count(r[kind].limit) : "–");
    const columns = [
      { field: "key", title: "Workload / key" },
      { field: "day_bar", title: "Today", chart: headroom("usd_per_day") },
      { field: "spent", title: "Spent today", numeric: true, format: money("usd_per_day", "spent") },
      { field: "reserved", title: "Reserved", numeric: true, format: money("usd_per_day", "reserved") },
      { field: "remaining", title: "Left today", numeric: true, format: money("usd_per_day", "remaining") },
      { field: "month_bar", title: "This month", chart: headroom("usd_per_month") },
      { field: "budget", title: "Month budget", numeric: true, format: money("usd_per_month", "budget") },
      { field: "month_left", title: "Left this month", numeric: true, format: money("usd_per_month", "remaining") },
      { field: "requests", title: "Requests left", numeric: true, format: rate("requests") },
      { field: "tokens", title: "Tokens left", numeric: true, format: rate("tokens") },
      { field: "concurrency", title: "In flight", numeric: true,
        format: (v, r) => (r.concurrency ? count(r.concurrency.in_flight) + " / " + count(r.concurrency.limit) : "–") },
    ];
    return section("budgets", title, table(columns, rows, "key", "USD per UTC day and month; requests and tokens per minute"));
  }

  function render(data) {
    const main = $("figures");
    main.replaceChildren(
      spendSection(data),
      budgetSection(data.budgets),
      modelSection(data.metrics),
      deploymentSection(data.deployments),
      el("div", { class: "row" }, abortSection(data.metrics), queueSection(data.metrics)));
    main.hidden = false;
    main.setAttribute("data-generated-at", data.generated_at);
  }

  // ---- key handling and refresh -----------------------------------------------------------
  function showSignIn(message) {
    generation += 1;
    clearTimeout(timer);
    $("figures").replaceChildren();
    $("figures").hidden = true;
    $("controls").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    $("admin-key").value = "";
    $("admin-key").focus();
  }

  async function refresh() {
    const key = sessionStorage.getItem(KEY);
    if (!key) return showSignIn();
    const mine = generation;
    const since = $("window").value;
    const url = "v1/gateway/dashboard" + (since ? "?since=" + encodeURIComponent(since) : "");
    try {
      const response = await fetch(url, { headers: { Authorization: "Bearer " + key }, cache: "no-store" });
      if (mine !== generation) return;
      if (response.status === 401) {
        sessionStorage.removeItem(KEY);
        return showSignIn("The admin key was not accepted.");
      }
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        throw new Error((problem.error && problem.error.message) || "HTTP " + response.status);
      }
      const data = await response.json();
      if (mine !== generation) return;
      render(data);
      $("status").textContent = "updated " + new Date().toLocaleTimeString();
      $("status").classList.remove("stale");
    } catch (err) {
      if (mine !== generation) return;
      $("status").textContent = "not updated: " + err.message + "; retrying";
      $("status").classList.add("stale");
    }
    if (mine === generation) timer = setTimeout(refresh, REFRESH_MS);
  }

  function start() {
    generation += 1;
    clearTimeout(timer);
    $("sign-in").hidden = true;
    $("controls").hidden = false;
    $("status").textContent = "loading…";
    refresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("admin-key").value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY, key);
      start();
    });
    $("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      showSignIn();
    });
    $("window").addEventListener("change", start);
    if (sessionStorage.getItem(KEY)) start();
    else showSignIn();
  });
})();
