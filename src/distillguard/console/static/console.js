// The console's charts (uPlot), linking graph (cytoscape) and timeline, drawn from the pages' JSON endpoints.
// No inline script anywhere (the CSP forbids it): the pages name their data in data-* attributes.
(function () {
  "use strict";

  const COLORS = ["#c0392b", "#2471a3", "#7d3c98", "#1e8449", "#b9770e", "#566573", "#17a589", "#884ea0"];
  const KIND_COLORS = { ip: "#2471a3", subnet: "#5dade2", client: "#7d3c98", payment: "#b9770e", signup_ip: "#1e8449" };

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
      return r.json();
    });
  }

  function width(el) { return Math.max(320, el.clientWidth || 800); }

  function showError(el, err) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = String(err);
    el.replaceChildren(p);
  }

  function fromZero(u, min, max) { return [0, Math.max(1, max) * 1.05]; }

  function barsOrLine(n) { return n > 1 && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 40] }) : undefined; }

  function seriesChart(el, data, names) {
    if (!data.t.length) { el.textContent = "No data."; return null; }
    const series = [{}];
    const columns = [data.t];
    names.forEach(function (name, i) {
      series.push({ label: name.label, stroke: COLORS[i], width: name.right ? 2 : 1, scale: name.right ? "right" : "n",
                    fill: name.right ? undefined : COLORS[i] + "55",
                    paths: name.right ? undefined : barsOrLine(data.t.length) });
      columns.push(data[name.key]);
    });
    return new uPlot({
      width: width(el), height: 220, series: series,
      axes: [{}, { scale: "n" }].concat(names.some(function (n) { return n.right; })
        ? [{ scale: "right", side: 1, grid: { show: false } }] : []),
      scales: { x: { time: true }, n: { range: fromZero }, right: { range: fromZero } },
    }, columns, el);
  }

  function drawCharts() {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      getJson(el.dataset.src).then(function (data) {
        if (el.dataset.chart === "overview") {
          seriesChart(el, data, [{ key: "flagged", label: "flagged accounts active per " + data.unit },
                                 { key: "campaigns", label: "campaigns running (right axis)", right: true }]);
        } else {
          seriesChart(el, data, [{ key: "exchanges", label: "exchanges per " + data.unit },
                                 { key: "eliciting", label: "eliciting reasoning" }]);
        }
      }).catch(function (err) { showError(el, err); });
    });
  }

  // Above LARGE_GRAPH nodes the edges are drawn on a canvas of their own under cytoscape's layers, following its
  // viewport and node positions on every frame: as cytoscape elements, ~3,000 edges cost three quarters of the
  // drawing (styles, bounding boxes, events per element), as one canvas path a few milliseconds.
  const LARGE_GRAPH = 600;

  function edgeLayer(el, cy, edges) {
    const canvas = document.createElement("canvas");
    canvas.className = "graph-edges";
    el.insertBefore(canvas, el.firstChild);  // first child: under cytoscape's canvases
    const ctx = canvas.getContext("2d");
    const ends = edges.map(function (e) { return [cy.getElementById(e.data.source), cy.getElementById(e.data.target)]; });
    function draw() {
      const w = el.clientWidth, h = el.clientHeight;
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
      const zoom = cy.zoom(), pan = cy.pan();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, w, h);
      ctx.setTransform(zoom, 0, 0, zoom, pan.x, pan.y);
      ctx.beginPath();
      ends.forEach(function (pair) {
        const a = pair[0].position(), b = pair[1].position();
        ctx.moveTo(a.x, a.y);
        ctx.lineTo(b.x, b.y);
      });
      ctx.lineWidth = 0.6;
      ctx.strokeStyle = "rgba(204, 209, 209, 0.7)";
      ctx.stroke();
    }
    cy.on("render", draw);
    draw();
  }

  function drawGraph(el) {
    const note = document.getElementById("graph-note");
    const coverage = document.getElementById("graph-coverage");
    return getJson(el.dataset.graph).then(function (g) {
      note.textContent = g.note;
      const kinds = Object.entries(g.coverage).map(function (kv) { return kv[0] + ": " + kv[1].toLocaleString() + " accounts"; });
      coverage.textContent = kinds.length ? "Drawn accounts linked through each kind — " + kinds.join(", ") : "No shared indicator.";
      const large = g.elements.nodes.length > LARGE_GRAPH;
      const kindStyles = Object.keys(KIND_COLORS).map(function (kind) {
        return { selector: "node[kind = '" + kind + "']", style: { "background-color": KIND_COLORS[kind] } };
      });
      const cy = cytoscape({
        container: el,
        elements: large ? { nodes: g.elements.nodes, edges: [] } : g.elements,
        pixelRatio: 1,
        textureOnViewport: large,
        style: [
          { selector: "node[type = 'account']", style: {
            "background-color": "mapData(risk, 0, 1, #a9cce3, #c0392b)", width: 10, height: 10, "border-width": 0 } },
          { selector: "node[type = 'indicator']", style: {
            shape: "diamond", width: "mapData(accounts, 2, 200, 12, 40)", height: "mapData(accounts, 2, 200, 12, 40)",
            "background-color": "#566573" } },
        ].concat(kindStyles, [
          { selector: "node:selected", style: { label: "data(label)", "font-size": 9, "text-background-color": "#fff",
                                                "text-background-opacity": 0.8 } },
          { selector: "edge", style: { width: 0.6, "line-color": "#ccd1d1", opacity: 0.7, "curve-style": "haystack" } },
        ]),
        layout: large ? { name: "concentric", animate: false, minNodeSpacing: 2,
                          concentric: function (node) { return node.data("type") === "indicator" ? 2 : 1; },
                          levelWidth: function () { return 1; } }
                      : { name: "cose", animate: false, numIter: 600, nodeRepulsion: 6000 },
      });
      if (large) { edgeLayer(el, cy, g.elements.edges); }
      cy.on("tap", "node[type = 'account']", function (evt) {
        window.location.href = "/account?id=" + encodeURIComponent(evt.target.data("label"));
      });
      cy.on("tap", "node[type = 'indicator']", function (evt) {
        window.location.href = "/search?q=" + encodeURIComponent(evt.target.data("label"));
      });
      el.dataset.nodes = String(cy.nodes().length);
      el.dataset.edges = String(g.elements.edges.length);
      el.dataset.ready = "true";
      window.consoleGraph = cy;
    }).catch(function (err) { showError(el, err); note.textContent = ""; });
  }

  function phaseBands(phases) {
    return function (u) {
      const ctx = u.ctx;
      const top = u.bbox.top;
      const height = u.bbox.height;
      ctx.save();
      phases.forEach(function (p, i) {
        const x0 = u.valToPos(p.start, "x", true);
        const x1 = u.valToPos(p.end, "x", true);
        if (p.kind === "pivot" || x1 - x0 < 2) {
          ctx.strokeStyle = "#c0392b";
          ctx.lineWidth = 2;
          ctx.beginPath(); ctx.moveTo(x0, top); ctx.lineTo(x0, top + height); ctx.stroke();
        } else {
          ctx.fillStyle = COLORS[i % COLORS.length] + "22";
          ctx.fillRect(x0, top, x1 - x0, height);
        }
      });
      ctx.restore();
    };
  }

  function drawTimeline(el) {
    return getJson(el.dataset.timeline).then(function (t) {
      const body = document.querySelector("#campaign-phases tbody");
      t.phases.forEach(function (p) {
        const tr = document.createElement("tr");
        tr.className = "phase-" + p.kind;
        [p.label, p.start_text, p.end_text, p.evidence].forEach(function (text) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      if (!t.phases.length) {
        const tr = document.createElement("tr");
        const td = document.createElement("td");
        td.colSpan = 4; td.className = "empty"; td.textContent = "No phase found (too little traffic).";
        tr.appendChild(td); body.appendChild(tr);
      }
      if (!t.hours.length) { el.textContent = "No traffic."; return; }
      const series = [{}];
      const columns = [t.hours];
      Object.entries(t.models).forEach(function (kv, i) {
        series.push({ label: kv[0], stroke: COLORS[i % COLORS.length], width: 1.2, scale: "n" });
        columns.push(kv[1]);
      });
      series.push({ label: "active accounts", stroke: "#000", dash: [4, 4], width: 1, scale: "n" });
      columns.push(t.series["active accounts"]);
      series.push({ label: "eliciting share", stroke: "#999", width: 1, scale: "share" });
      columns.push(t.series["eliciting share"]);
      new uPlot({
        width: width(el), height: 260, series: series,
        scales: { x: { time: true }, n: { range: fromZero }, share: { range: [0, 1] } },
        axes: [{}, { scale: "n", label: "exchanges per hour" }, { scale: "share", side: 1, grid: { show: false } }],
        hooks: { drawClear: [phaseBands(t.phases)] },
      }, columns, el);
      el.dataset.ready = "true";
    }).catch(function (err) { showError(el, err); });
  }

  function start() {
    drawCharts();
    document.querySelectorAll("[data-graph]").forEach(drawGraph);
    document.querySelectorAll("[data-timeline]").forEach(drawTimeline);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
