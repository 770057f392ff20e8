/* The finance monitor's dashboard: draws each trend chart from the JSON API with Chart.js,
   keeps the admin token for the action forms, and refreshes the page's data regularly.
   Text from the server is only ever put in the page by the server's escaped templates or
   as Chart.js labels (drawn on a canvas): nothing here assigns innerHTML. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  const TOKEN_KEY = "troika.finance.adminToken";
  const charts = [];

  function label(iso, bucketSeconds) {
    const d = new Date(iso);
    const day = d.toISOString().slice(5, 10);
    return bucketSeconds < 86400 ? day + " " + d.toISOString().slice(11, 16) : day;
  }

  function draw(canvas, data) {
    const points = data.points;
    const detail = canvas.dataset.kind === "detail";
    const datasets = [
      { type: "bar", label: "articles", data: points.map((p) => p.volume), yAxisID: "y", backgroundColor: "rgba(110,130,160,0.45)", order: 3 },
      { type: "line", label: "negative %", data: points.map((p) => (p.volume ? Math.round(p.negative_share * 1000) / 10 : null)),
        yAxisID: "share", borderColor: "#c0392b", backgroundColor: "#c0392b", pointRadius: 2.5, spanGaps: false, order: 1 },
    ];
    const scales = {
      x: { ticks: { maxTicksLimit: detail ? 10 : 4, maxRotation: 0, autoSkipPadding: 16 } },
      y: { beginAtZero: true, position: "left", title: { display: detail, text: "articles" }, ticks: { precision: 0 } },
      share: { min: 0, max: 100, position: "right", grid: { drawOnChartArea: false }, title: { display: detail, text: "negative %" } },
    };
    if (detail) {
      datasets.push({ type: "line", label: "mean score", data: points.map((p) => p.mean_score), yAxisID: "score",
        borderColor: "#2457c5", backgroundColor: "#2457c5", pointRadius: 2.5, spanGaps: false, order: 2 });
      scales.score = { min: -1, max: 1, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "mean score" } };
    }
    const chart = new window.Chart(canvas, {
      data: { labels: points.map((p) => label(p.start, data.bucket_seconds)), datasets },
      options: { animation: false, responsive: true, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
        plugins: { legend: { display: detail, position: "bottom" } }, scales },
    });
    charts.push(chart);
    canvas.dataset.drawn = String(points.length);
  }

  function drawCharts(root) {
    if (!window.Chart) return;
    root.querySelectorAll("canvas.fm-trend[data-src]").forEach((canvas) => {
      fetch(canvas.dataset.src, { headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status))))
        .then((data) => draw(canvas, data))
        .catch((err) => { canvas.dataset.error = String(err); });
    });
  }

  function wireForms(root) {
    const box = document.getElementById("fm-admin-token");
    root.querySelectorAll("form.fm-admin-form").forEach((form) => {
      form.addEventListener("submit", (event) => {
        const field = form.querySelector("input[name=token]");
        const token = box ? box.value.trim() : "";
        if (!token) {
          event.preventDefault();
          if (box) { box.focus(); box.setCustomValidity("enter the admin token first"); box.reportValidity(); }
          return;
        }
        if (field) field.value = token;
      });
    });
  }

  function busy() {
    const active = document.activeElement;
    return document.hidden || (active && active.closest && active.closest("#fm-content form"));
  }

  function refresh() {
    if (busy()) return;
    fetch(window.location.href, { headers: { Accept: "text/html" } })
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error("HTTP " + r.status))))
      .then((html) => {
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("fm-content");
        const current = document.getElementById("fm-content");
        if (!fresh || !current || busy()) return;
        charts.splice(0).forEach((c) => c.destroy());
        const adopted = document.importNode(fresh, true);
        current.replaceWith(adopted);
        wireForms(adopted);
        drawCharts(adopted);
        document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
      })
      .catch(() => { document.body.dataset.refreshError = "1"; });
  }

  function start() {
    const box = document.getElementById("fm-admin-token");
    if (box) {
      box.value = window.sessionStorage.getItem(TOKEN_KEY) || "";
      box.addEventListener("input", () => { box.setCustomValidity(""); window.sessionStorage.setItem(TOKEN_KEY, box.value.trim()); });
    }
    const content = document.getElementById("fm-content");
    if (content) { wireForms(content); drawCharts(content); }
    const seconds = Number(document.body.dataset.refreshSeconds) || 30;
    window.setInterval(refresh, seconds * 1000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
