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
          x: { type: spec.xLog ? 'logarithmic' : 'linear', title: { display: true, text: spec.xLabel } },
          y: { title: { display: true, text: spec.yLabel } },
        },
      },
    });
  });
})();
