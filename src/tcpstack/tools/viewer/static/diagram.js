/* RFC 9293 Figure 5 drawn from the transition table (doc.transitions, i.e.
 * tcpstack.state.RULES): one box per state, one arc per (old, new) pair with
 * every cause that takes it. CLOSED is drawn twice, as in the RFC: where a
 * connection starts (top) and where it ends (bottom right). Each end's
 * current state is outlined in its colour, and the arcs it took so far are
 * drawn in that colour (the last one dashed). */
TV.diagram = (function () {
  var W = 720, H = 540, BW = 116, BH = 24;
  var POS = {
    "CLOSED": [360, 24], "LISTEN": [360, 96], "SYN-RECEIVED": [150, 176], "SYN-SENT": [570, 176],
    "ESTABLISHED": [360, 256], "FIN-WAIT-1": [150, 336], "CLOSE-WAIT": [570, 336],
    "FIN-WAIT-2": [74, 428], "CLOSING": [262, 428], "LAST-ACK": [570, 428],
    "TIME-WAIT": [262, 508], "CLOSED-END": [570, 508]
  };
  var MAIN = ["CLOSED>LISTEN", "CLOSED>SYN-SENT", "LISTEN>SYN-RECEIVED", "LISTEN>SYN-SENT",
    "SYN-SENT>SYN-RECEIVED", "SYN-RECEIVED>ESTABLISHED", "SYN-SENT>ESTABLISHED",
    "SYN-RECEIVED>FIN-WAIT-1", "SYN-RECEIVED>LISTEN", "ESTABLISHED>FIN-WAIT-1",
    "ESTABLISHED>CLOSE-WAIT", "FIN-WAIT-1>FIN-WAIT-2", "FIN-WAIT-1>CLOSING", "FIN-WAIT-1>TIME-WAIT",
    "FIN-WAIT-2>TIME-WAIT", "CLOSING>TIME-WAIT", "CLOSE-WAIT>LAST-ACK", "LAST-ACK>CLOSED",
    "TIME-WAIT>CLOSED", "SYN-SENT>CLOSED", "LISTEN>CLOSED"];

  /* The box a state is drawn in, given where the arc comes from. */
  function node(state, from) {
    if (state !== "CLOSED") { return state; }
    if (from === undefined || from === null || from === "CLOSED" || from === "LISTEN" || from === "SYN-SENT") {
      return "CLOSED";
    }
    return "CLOSED-END";
  }

  function arcs() {
    var out = {}, order = [];
    (TV.doc ? TV.doc.transitions : []).forEach(function (tr) {
      var id = tr.old + ">" + tr["new"];
      if (!out[id]) { out[id] = {id: id, old: tr.old, "new": tr["new"], causes: []}; order.push(id); }
      out[id].causes.push(tr);
    });
    return order.map(function (id) { return out[id]; });
  }

  function exit(c, toward) {
    var dx = toward[0] - c[0], dy = toward[1] - c[1];
    if (dx === 0 && dy === 0) { return c; }
    var s = Math.min(Math.abs((BW / 2 + 2) / (dx || 1e-9)), Math.abs((BH / 2 + 2) / (dy || 1e-9)));
    return [c[0] + dx * s, c[1] + dy * s];
  }

  function drawArc(g, arc, taken, lastOf) {
    var a = POS[node(arc.old, null)], b = POS[node(arc["new"], arc.old)];
    if (!a || !b) { return; }
    var mx = (a[0] + b[0]) / 2, my = (a[1] + b[1]) / 2;
    var dx = b[0] - a[0], dy = b[1] - a[1], len = Math.sqrt(dx * dx + dy * dy) || 1;
    var bend = Math.max(16, 0.12 * len);
    var c = [mx - dy / len * bend, my + dx / len * bend];
    var p1 = exit(a, c), p2 = exit(b, c);
    var main = MAIN.indexOf(arc.id) >= 0;
    var cls = ["arc", main ? "main" : "minor"];
    ["L", "R"].forEach(function (side) {
      if (taken[side][arc.id]) { cls.push("taken-" + side); }
      if (lastOf[side] === arc.id) { cls.push("last"); }
    });
    var causes = arc.causes.map(function (t) { return t.cause; });
    var grp = TV.svg("g", {"class": cls.join(" "), "data-arc": arc.id, "data-causes": causes.join("|")});
    grp.appendChild(TV.svg("title", null, arc.old + " → " + arc["new"] + "\n" + arc.causes.map(function (t) {
      return "• " + t.cause + " (" + (TV.pick(TV.catalog["cause_" + t.cause]) || t.cause) + "): " + t.rule;
    }).join("\n")));
    grp.appendChild(TV.svg("path", {d: "M" + p1[0].toFixed(1) + "," + p1[1].toFixed(1) + " Q" +
      c[0].toFixed(1) + "," + c[1].toFixed(1) + " " + p2[0].toFixed(1) + "," + p2[1].toFixed(1),
      "marker-end": "url(#tv-dg-head)"}));
    var shown = taken.L[arc.id] || taken.R[arc.id] || causes[0];
    var lx = 0.25 * p1[0] + 0.5 * c[0] + 0.25 * p2[0], ly = 0.25 * p1[1] + 0.5 * c[1] + 0.25 * p2[1];
    grp.appendChild(TV.svg("text", {x: lx.toFixed(1), y: (ly + 3).toFixed(1), "text-anchor": "middle"}, shown));
    g.appendChild(grp);
  }

  function render() {
    var root = TV.clear(TV.$("tv-diagram"));
    TV.setAttrs(root, {viewBox: "0 0 " + W + " " + H, width: "100%", "aria-label": "TCP state diagram"});
    root.appendChild(TV.svg("defs", null, TV.svg("marker", {id: "tv-dg-head", viewBox: "0 0 10 10",
      refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"},
      TV.svg("path", {d: "M0,0 L10,5 L0,10 z", fill: "#78909c"}))));
    if (!TV.doc) { return; }
    var taken = {L: {}, R: {}}, lastOf = {L: null, R: null}, current = {L: null, R: null};
    var visited = {L: {}, R: {}};
    ["L", "R"].forEach(function (side) {
      var path = TV.pathOf(side, TV.cur);
      path.forEach(function (p) {
        var id = p.old + ">" + p["new"];
        taken[side][id] = p.cause;
        lastOf[side] = id;
        visited[side][node(p.old, null)] = true;
        visited[side][node(p["new"], p.old)] = true;
      });
      var snap = TV.tcbAt(side, TV.cur);
      if (snap && snap.state && TV.doc.hosts[side].traced) {
        var lastStep = path[path.length - 1];
        current[side] = node(snap.state, lastStep && lastStep["new"] === snap.state ? lastStep.old : null);
      }
    });
    var g = TV.svg("g");
    root.appendChild(g);
    arcs().forEach(function (arc) { drawArc(g, arc, taken, lastOf); });
    Object.keys(POS).forEach(function (name) {
      var p = POS[name], state = name === "CLOSED-END" ? "CLOSED" : name;
      var cls = ["node"];
      ["L", "R"].forEach(function (side) {
        if (current[side] === name) { cls.push("current-" + side); }
        if (visited[side][name]) { cls.push("visited-" + side); }
      });
      var grp = TV.svg("g", {"class": cls.join(" "), "data-state": state, "data-node": name});
      grp.appendChild(TV.svg("rect", {x: p[0] - BW / 2, y: p[1] - BH / 2, width: BW, height: BH}));
      grp.appendChild(TV.svg("text", {x: p[0], y: p[1] + 4, "text-anchor": "middle"}, state));
      g.appendChild(grp);
    });
    [["L", 10, "var(--left)"], ["R", 30, "var(--right)"]].forEach(function (l) {
      var h = TV.doc.hosts[l[0]];
      g.appendChild(TV.svg("rect", {x: 8, y: l[1] - 9, width: 12, height: 12, fill: l[2]}));
      g.appendChild(TV.svg("text", {"class": "legend", x: 26, y: l[1] + 1}, h.name + (current[l[0]] ? ": " +
        (current[l[0]] === "CLOSED-END" ? "CLOSED" : current[l[0]]) : "")));
    });
  }

  return {render: render, node: node, positions: POS};
}());
