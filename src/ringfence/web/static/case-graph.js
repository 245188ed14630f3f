// Draws the graph of one case (who infected it, whom it exposed) with cytoscape.js. The data
// come from a JSON block in the page, so the page needs no inline script.
(function () {
  const data = document.getElementById("graph-data");
  const container = document.getElementById("graph");
  if (!data || !container || typeof cytoscape === "undefined") { return; }
  const graph = JSON.parse(data.textContent);
  const cy = cytoscape({
    container: container,
    elements: graph,
    layout: { name: "breadthfirst", directed: true, spacingFactor: 1.1 },
    style: [
      { selector: "node", style: { "label": "data(label)", "font-size": 9, "width": 16, "height": 16,
        "background-color": "#9e9e9e" } },
      { selector: "node[type = 'case']", style: { "background-color": "#b71c1c" } },
      { selector: "node[focus = 'yes']", style: { "border-width": 3, "border-color": "#000" } },
      { selector: "edge", style: { "width": 1, "line-color": "#999", "target-arrow-color": "#999",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "label": "data(kind)",
        "font-size": 7 } },
    ],
  });
  cy.ready(function () { document.body.dataset.graph = String(cy.nodes().length); });
})();
