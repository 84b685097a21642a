// The reporting dashboard's script, served as /dashboard.js so the page's Content-Security-Policy can refuse every
// inline script. Whatever comes from the API is put in the page as text (textContent, attributes set one by one),
// never parsed as HTML. The reader's token lives in `token` only: not in sessionStorage or localStorage, where any
// script on the origin could read it; a reload asks for it again.
"use strict";
const NUMBER = new Intl.NumberFormat("vi-VN");
const PERCENT = new Intl.NumberFormat("vi-VN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const MODALITIES = ["compulsory", "voluntary_facility", "voluntary_community", "methadone", "temporary_stay", "status_determination"];
const COLORS = ["#1f6f8b", "#99c24d", "#f18f01", "#8e5572", "#c73e1d", "#9e9e9e"];
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let token = "";
let lastTable = null;

// An element with attributes (`dataset` and `className` as properties) and children (strings become text nodes).
function build(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "className") element.setAttribute("class", value);
    else element.setAttribute(name, String(value));
  }
  element.append(...(children || []).map((c) => (typeof c === "string" ? document.createTextNode(c) : c)));
  return element;
}
const h = (tag, attributes, ...children) => build(document.createElement(tag), attributes, children);
const s = (tag, attributes, ...children) => build(document.createElementNS(SVG, tag), attributes, children);

function fmt(value, counts) {
  if (value === null || value === undefined) return "–";
  return counts === "percent" ? PERCENT.format(value) + "%" : NUMBER.format(value);
}

async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  Object.entries(params).forEach(([k, v]) => v !== "" && v !== null && url.searchParams.set(k, v));
  const response = await fetch(url, { headers: { Authorization: "Bearer " + token } });
  if (response.status === 401) { token = ""; showLogin("Mã truy cập không hợp lệ hoặc đã bị thu hồi."); throw new Error("401"); }
  if (!response.ok) { const body = await response.json().catch(() => ({})); throw new Error(body.detail || response.statusText); }
  return response;
}

function showLogin(message) {
  $("login").hidden = false; $("choose").hidden = $("report").hidden = true;
  if (message) { $("status").textContent = message; }
}

function selectedUnit() { return $("ward").value || $("province").value; }
function selectedPeriod() { return $("custom").value.trim() || $("year").value + $("part").value; }
const unitOption = (u) => h("option", { value: u.code }, u.name || u.code);

async function start() {
  if (!token) return showLogin();
  const mine = await (await api("/v1/units")).json();
  const provinces = mine.units.some((u) => u.code === "VN")
    ? [{ code: "VN", name: "Toàn quốc" }, ...(await (await api("/v1/units", { within: "VN" })).json()).units]
    : mine.units.filter((u) => u.code.length === 2);
  $("province").replaceChildren(...provinces.map(unitOption));
  $("who").textContent = "Phạm vi: " + mine.units.map((u) => u.name || u.code).join(", ");
  const thisYear = new Date().getFullYear();
  $("year").replaceChildren(...Array.from({ length: thisYear - 2009 }, (_, i) => h("option", {}, String(thisYear - i))));
  $("login").hidden = true; $("choose").hidden = false;
  await loadWards();
  await refresh();
}

async function loadWards() {
  const province = $("province").value;
  $("ward").replaceChildren(h("option", { value: "" }, "(toàn bộ)"));
  if (province.length !== 2) return;
  const wards = (await (await api("/v1/units", { within: province })).json()).units;
  $("ward").append(...wards.map(unitOption));
}

function changeText(v) {
  if (v.change === null || v.change === undefined) return "–";
  if (v.change === 0) return "không đổi";
  const word = v.change > 0 ? "tăng" : "giảm";
  return h("span", { className: v.change > 0 ? "up" : "down" }, `${word} ${fmt(Math.abs(v.change), v.counts)}`);
}

function sentence(v) {
  if (v.target === null || v.value === null) return "";
  const unit = v.count_labels.vi;
  let text = `${NUMBER.format(v.value)}/${NUMBER.format(v.target)} ${unit}, đạt ${PERCENT.format(v.achievement_pct)}%`;
  if (v.change) text += `, ${v.change > 0 ? "tăng" : "giảm"} ${NUMBER.format(Math.abs(v.change))} ${unit} so với ${v.previous_period}`;
  return text + (v.target_source_document ? ` (${v.target_source_document})` : "");
}

function indicatorRow(v) {
  const num = (field, ...content) => h("td", { className: "num", dataset: { field } }, ...content);
  return h("tr", { dataset: { indicator: v.indicator_id } },
    h("td", {}, v.labels.vi, h("div", { className: "sentence" }, sentence(v))),
    num("value", v.suppressed ? "(ẩn)" : fmt(v.value, v.counts)),
    h("td", {}, v.count_labels.vi),
    num("target", v.target === null ? "–" : NUMBER.format(v.target)),
    num("achievement", v.achievement_pct === null ? "–" : PERCENT.format(v.achievement_pct) + "%"),
    num("change", changeText(v)));
}

function renderIndicators(table) {
  $("title").textContent = `${table.unit_name || table.unit} · kỳ ${table.period}`;
  $("indicators").querySelector("tbody").replaceChildren(...table.indicators.map(indicatorRow));
  $("report").hidden = false;
}

function renderCensus(census) {
  $("census-title").textContent = `Số người đang cai nghiện ngày ${new Date(census.on).toLocaleDateString("vi-VN")}`;
  const rows = census.modalities.map((m) => h("tr", { dataset: { modality: m.modality } },
    h("td", {}, m.labels.vi), h("td", { className: "num" }, m.residents === null ? "(ẩn)" : NUMBER.format(m.residents))));
  rows.push(h("tr", { dataset: { modality: "total" } },
    h("td", {}, h("b", {}, "Tổng số")), h("td", { className: "num" }, h("b", {}, fmt(census.total)))));
  $("census").querySelector("tbody").replaceChildren(...rows);
  $("census-section").hidden = false;
}

function renderTargets(table) {
  const rows = table.indicators.filter((v) => v.achievement_pct !== null);
  $("target-section").hidden = rows.length === 0;
  if (!rows.length) return;
  const width = 520, bar = 18, gap = 10, left = 190, max = Math.max(100, ...rows.map((v) => v.achievement_pct));
  const scale = (pct) => ((width - left - 60) * pct) / max;
  const bars = rows.flatMap((v, i) => {
    const y = i * (bar + gap);
    const color = v.achievement_pct >= 100 ? "var(--ok)" : "var(--accent)";
    return [
      s("text", { x: 0, y: y + 13 }, v.labels.vi.slice(0, 32)),
      s("rect", { x: left, y, width: scale(v.achievement_pct), height: bar, fill: color }),
      s("text", { x: left + scale(v.achievement_pct) + 4, y: y + 13 }, PERCENT.format(v.achievement_pct) + "%"),
    ];
  });
  const line = left + scale(100);
  const height = rows.length * (bar + gap);
  $("target-chart").replaceChildren(s("svg", { width, height: height + 16, role: "img", "aria-label": "Tỷ lệ đạt kế hoạch" },
    ...bars,
    s("line", { x1: line, x2: line, y1: 0, y2: height, stroke: "#333", "stroke-dasharray": "3 3" }),
    s("text", { x: line - 12, y: height + 12 }, "100%")));
}

function subPeriods(period) {
  const [start, end] = period.includes("/") ? period.split("/") : [period, period];
  const y0 = parseInt(start.slice(0, 4), 10), y1 = parseInt(end.slice(0, 4), 10);
  if (y1 > y0) return Array.from({ length: y1 - y0 + 1 }, (_, i) => String(y0 + i));
  const months = { "": [1, 12], "-H1": [1, 6], "-H2": [7, 12], "-Q1": [1, 3], "-Q2": [4, 6], "-Q3": [7, 9], "-Q4": [10, 12] };
  const [m0, m1] = /^\d{4}-\d{2}$/.test(period) ? [+period.slice(5), +period.slice(5)] : months[period.slice(4)] || [1, 12];
  return Array.from({ length: m1 - m0 + 1 }, (_, i) => `${y0}-${String(m0 + i).padStart(2, "0")}`);
}

function renderTrend(parts, tables) {
  const labels = Object.fromEntries(tables[0].indicators.map((v) => [v.indicator_id, v.labels.vi]));
  const series = tables.map((t) => Object.fromEntries(t.indicators.map((v) => [v.indicator_id, v.value || 0])));
  const totals = series.map((x) => MODALITIES.reduce((sum, m) => sum + (x["admissions." + m] || 0), 0));
  const width = 760, height = 220, left = 48, step = (width - left) / parts.length, max = Math.max(1, ...totals);
  const bars = series.flatMap((x, i) => {
    let y = height;
    const stack = MODALITIES.map((m, k) => {
      const n = x["admissions." + m] || 0, bar = (n / max) * (height - 10);
      y -= bar;
      return s("rect", { x: left + i * step + 2, y, width: Math.max(1, step - 4), height: bar, fill: COLORS[k] },
        s("title", {}, `${labels["admissions." + m]}: ${NUMBER.format(n)}`));
    });
    const label = parts[i].length > 4 ? parts[i].slice(5) : parts[i];
    return [...stack, s("text", { x: left + i * step + step / 2 - 14, y: height + 14 }, label)];
  });
  const axis = [s("text", { x: 0, y: 12 }, NUMBER.format(max)), s("text", { x: 0, y: height }, "0")];
  const legend = MODALITIES.map((m, k) => {
    const swatch = h("i");
    swatch.style.background = COLORS[k];  // a style property, not a style attribute: the policy allows no inline style
    return h("span", {}, swatch, labels["admissions." + m]);
  });
  $("trend-chart").replaceChildren(h("div", { className: "legend" }, ...legend),
    s("svg", { width, height: height + 20, role: "img", "aria-label": "Tiếp nhận theo thời gian" }, ...axis, ...bars));
  $("trend-section").hidden = false;
}

let refreshes = 0;

async function refresh() {
  const unit = selectedUnit(), period = selectedPeriod(), mine = ++refreshes;
  $("status").className = ""; $("status").textContent = "Đang tải…";
  try {
    const table = await (await api("/v1/indicators", { unit, period })).json();
    const today = new Date().toISOString().slice(0, 10);
    const end = periodEnd(table.period);
    const census = await (await api("/v1/census", { unit, on: end < today ? end : today })).json();
    const parts = subPeriods(table.period);
    const trend = await Promise.all(parts.map(async (p) => (await api("/v1/indicators", { unit, period: p })).json()));
    if (mine !== refreshes) return;  // a later choice is loading: an earlier one answering last must not cover it
    lastTable = { unit, period };
    renderIndicators(table);
    renderTargets(table);
    renderCensus(census);
    renderTrend(parts, trend);
    $("status").textContent = "";
    document.body.dataset.loaded = `${unit}|${table.period}`;
  } catch (error) {
    if (error.message !== "401") { $("status").className = "error"; $("status").textContent = "Lỗi: " + error.message; }
  }
}

function periodEnd(period) {
  const last = period.includes("/") ? period.split("/")[1] : period;
  const year = +last.slice(0, 4);
  const month = /^\d{4}-\d{2}$/.test(last) ? +last.slice(5) : { "-H1": 6, "-Q1": 3, "-Q2": 6, "-Q3": 9 }[last.slice(4)] || 12;
  return new Date(Date.UTC(year, month, 0)).toISOString().slice(0, 10);
}

async function download(format) {
  if (!lastTable) return;
  const response = await api("/v1/indicators", { ...lastTable, format, lang: "vi" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = `hoinhap-${lastTable.unit}-${lastTable.period.replace("/", "_")}.${format}`;
  link.click();
}

$("login-form").addEventListener("submit", (e) => { e.preventDefault(); token = $("token").value.trim(); $("token").value = ""; start(); });
$("controls").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
$("province").addEventListener("change", async () => { await loadWards(); refresh(); });
["ward", "year", "part"].forEach((id) => $(id).addEventListener("change", () => { if (id !== "ward") $("custom").value = ""; refresh(); }));
$("csv").addEventListener("click", () => download("csv"));
$("xlsx").addEventListener("click", () => download("xlsx"));
const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromLink) { token = fromLink; history.replaceState(null, "", location.pathname); }
start();
