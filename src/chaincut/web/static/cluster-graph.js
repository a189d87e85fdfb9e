// chaincut: a cluster's chain graph, drawn by Cytoscape.js (vendored) from the JSON the page holds.
// Roots at the top, each generation below; a solid edge is a tracer-confirmed infector, a dashed one
// inferred. Clicking a case opens its page (for those who may read it). The table lists the same.
(function () {
  "use strict";
  var holder = document.getElementById("chain-graph");
  var data = document.getElementById("chain-data");
  if (!holder || !data || typeof cytoscape !== "function") {
    return;
  }
  var graph = JSON.parse(data.textContent);
  var elements = [];
  graph.nodes.forEach(function (node) {
    elements.push({ data: { id: node.case, label: node.case, generation: node.generation } });
  });
  graph.edges.forEach(function (edge) {
    elements.push({
      data: { id: edge.infector + ">" + edge.infectee, source: edge.infector, target: edge.infectee },
      classes: edge.confirmed ? "confirmed" : "inferred",
    });
  });
  var cy = cytoscape({
    container: holder,
    elements: elements,
    layout: { name: "breadthfirst", directed: true, spacingFactor: 1.1, padding: 12 },
    wheelSensitivity: 0.3,
    style: [
      {
        selector: "node",
        style: {
          label: "data(label)",
          "background-color": "#0b5cad",
          color: "#1d2733",
          "font-size": 11,
          "text-valign": "bottom",
          "text-margin-y": 4,
          width: 18,
          height: 18,
        },
      },
      {
        selector: "edge",
        style: {
          width: 2,
          "line-color": "#5b6775",
          "target-arrow-color": "#5b6775",
          "target-arrow-shape": "triangle",
          "curve-style": "bezier",
        },
      },
      { selector: "edge.inferred", style: { "line-style": "dashed" } },
    ],
  });
  holder.dataset.ready = "true";
  if (holder.dataset.caseUrl) {
    cy.on("tap", "node", function (event) {
      window.location.assign(holder.dataset.caseUrl.replace("CASE", encodeURIComponent(event.target.id())));
    });
  }
})();
