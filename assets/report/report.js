// Draws the report's charts (their data: the JSON in #dlip-charts, built by src/report/charts.ts) with
// the Chart.js build embedded above. No animation: a chart is complete as soon as the page has loaded,
// for a screenshot or a print.
(function () {
  'use strict';
  var specs = JSON.parse(document.getElementById('dlip-charts').textContent);

  // Scatter points carry the model's name; it is written beside each point, so a screenshot says
  // which model is which without hovering.
  var pointNames = {
    id: 'dlipPointNames',
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx;
      ctx.save();
      ctx.font = '11px sans-serif';
      ctx.fillStyle = '#333';
      chart.data.datasets.forEach(function (dataset, i) {
        chart.getDatasetMeta(i).data.forEach(function (element, j) {
          var name = dataset.data[j].name;
          if (name) ctx.fillText(name, element.x + 8, element.y - 6);
        });
      });
      ctx.restore();
    },
  };

  // 24000000 → "24M": log-axis ticks stay short.
  function compact(value) {
    var units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
    for (var i = 0; i < units.length; i++) {
      if (value >= units[i][0]) return +(value / units[i][0]).toPrecision(3) + units[i][1];
    }
    return String(+value.toPrecision(3));
  }

  // A log axis labels only 1, 2 and 5 times a power of ten, and reaches a little past the outermost
  // points so that none sits on the frame.
  function logAxis(spec) {
    var xs = [];
    spec.series.forEach(function (s) {
      s.points.forEach(function (p) { xs.push(p.x); });
    });
    return {
      type: 'logarithmic',
      min: Math.min.apply(null, xs) / 1.6,
      max: Math.max.apply(null, xs) * 1.6,
      title: { display: true, text: spec.xLabel },
      ticks: {
        autoSkip: true,
        maxRotation: 0,
        callback: function (value) {
          var mantissa = value / Math.pow(10, Math.floor(Math.log10(value) + 1e-9));
          var round = [1, 2, 5].some(function (m) { return Math.abs(mantissa - m) < 1e-6; });
          return round ? compact(value) : '';
        },
      },
    };
  }

  specs.forEach(function (spec, index) {
    var canvas = document.getElementById('chart-' + index);
    var scatter = spec.kind === 'scatter';
    var datasets = spec.series.map(function (s) {
      return {
        label: s.label,
        data: s.points,
        borderColor: s.color,
        backgroundColor: s.color,
        borderWidth: 2,
        pointStyle: s.teacher ? 'rectRot' : 'circle',
        pointRadius: scatter ? (s.teacher ? 9 : 6) : 2,
        showLine: !scatter,
        tension: 0,
      };
    });
    new Chart(canvas, {
      type: scatter ? 'scatter' : 'line',
      data: { datasets: datasets },
      plugins: scatter ? [pointNames] : [],
      options: {
        animation: false,
        responsive: false,
        parsing: { xAxisKey: 'x', yAxisKey: 'y' },
        // Room for the names written right of the outermost points.
        layout: { padding: scatter ? { right: 90, top: 8 } : 0 },
        plugins: {
          title: { display: true, text: spec.title },
          legend: { position: 'bottom' },
          tooltip: {
            callbacks: {
              label: function (item) {
                var p = item.raw;
                return (p.name ? p.name + ': ' : item.dataset.label + ': ') + p.y.toPrecision(4) + ' at ' + p.x.toPrecision(4);
              },
            },
          },
        },
        scales: {
          x: spec.xLog ? logAxis(spec) : { type: 'linear', title: { display: true, text: spec.xLabel } },
          y: { grace: scatter ? '8%' : 0, title: { display: true, text: spec.yLabel } },
        },
      },
    });
  });
})();
