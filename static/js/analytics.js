// Draws every <canvas data-chart="…"> from the JSON beside it (Chart.js,
// vendored), on load and after htmx swaps in new results.
(function () {
  "use strict";

  function dollars(value) {
    var digits = Math.abs(value) >= 1 || value === 0 ? 2 : 4;
    return "$" + Number(value).toLocaleString(undefined, {
      minimumFractionDigits: digits, maximumFractionDigits: digits
    });
  }

  function config(spec) {
    var axes = {};
    if (spec.type !== "doughnut") {
      var value = {
        stacked: spec.stacked, beginAtZero: true,
        ticks: spec.money ? { callback: dollars } : {}
      };
      var label = { stacked: spec.stacked };
      axes = spec.horizontal ? { x: value, y: label } : { x: label, y: value };
    }
    return {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        scales: axes,
        plugins: {
          legend: { display: spec.datasets.length > 1 || spec.type === "doughnut" },
          tooltip: spec.money ? {
            callbacks: {
              label: function (ctx) { return ctx.dataset.label + ": " + dollars(ctx.raw); }
            }
          } : {}
        }
      }
    };
  }

  function draw(root) {
    if (!window.Chart) { return; }
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) { return; }
      var old = window.Chart.getChart(canvas);
      if (old) { old.destroy(); }
      new window.Chart(canvas, config(JSON.parse(source.textContent)));
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  // An outerHTML swap replaces the target, so redraw wherever new canvases are.
  document.addEventListener("htmx:afterSettle", function () { draw(document); });
})();
