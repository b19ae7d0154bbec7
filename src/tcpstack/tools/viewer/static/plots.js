/* The time-sequence graph (Stevens style: data sent as bars from seq to
 * seq+len, retransmissions in red; the ACKs the sender received as a step
 * line; ACK + window dashed) and the sender's cwnd and ssthresh over time.
 * Both share the time axis; what happens after the current step is faded
 * and a cursor marks the current step's time. Drawn only when the run
 * carries data. */
TV.plots = (function () {
  var W = 640, H = 250, ML = 64, MR = 14, MT = 10, MB = 34, UNLIMITED = Math.pow(2, 30);

  function sender() {
    var tsg = TV.doc.series.tsg;
    if (TV.tsgSide && tsg[TV.tsgSide] && tsg[TV.tsgSide].data.length) { return TV.tsgSide; }
    return tsg.L.bytes >= tsg.R.bytes ? "L" : "R";
  }

  function frame(root, x0, x1, y0, y1, ylabel, id) {
    TV.setAttrs(root, {viewBox: "0 0 " + W + " " + H, width: "100%", "class": "plot"});
    var sx = function (t) { return ML + (t - x0) / (x1 - x0) * (W - ML - MR); };
    var sy = function (v) { return H - MB - (v - y0) / (y1 - y0) * (H - MT - MB); };
    root.appendChild(TV.svg("defs", null, TV.svg("clipPath", {id: id},
      TV.svg("rect", {x: ML, y: MT, width: W - ML - MR, height: H - MT - MB}))));
    var axis = TV.svg("g", {"class": "axis"});
    axis.appendChild(TV.svg("line", {x1: ML, x2: W - MR, y1: H - MB, y2: H - MB}));
    axis.appendChild(TV.svg("line", {x1: ML, x2: ML, y1: MT, y2: H - MB}));
    TV.ticks(x0, x1, 6).forEach(function (t) {
      axis.appendChild(TV.svg("line", {x1: sx(t), x2: sx(t), y1: H - MB, y2: H - MB + 4}));
      axis.appendChild(TV.svg("text", {x: sx(t), y: H - MB + 15, "text-anchor": "middle"}, TV.fmtTick(t)));
    });
    TV.ticks(y0, y1, 5).forEach(function (v) {
      axis.appendChild(TV.svg("line", {x1: ML - 4, x2: ML, y1: sy(v), y2: sy(v)}));
      axis.appendChild(TV.svg("text", {x: ML - 6, y: sy(v) + 3, "text-anchor": "end"}, TV.fmtTick(v)));
    });
    axis.appendChild(TV.svg("text", {x: (ML + W - MR) / 2, y: H - 4, "text-anchor": "middle"},
      TV.t("time") + " (" + TV.t("seconds") + ")"));
    axis.appendChild(TV.svg("text", {x: 12, y: (MT + H - MB) / 2, "text-anchor": "middle",
      transform: "rotate(-90 12 " + (MT + H - MB) / 2 + ")"}, ylabel));
    root.appendChild(axis);
    var body = TV.svg("g", {"clip-path": "url(#" + id + ")"});
    root.appendChild(body);
    return {sx: sx, sy: sy, body: body};
  }

  function stepPath(points, sx, sy) {
    var d = "";
    points.forEach(function (p, k) {
      d += (k ? " H" + sx(p[0]).toFixed(1) + " V" : "M" + sx(p[0]).toFixed(1) + ",") + sy(p[1]).toFixed(1);
    });
    return d;
  }

  function cursor(f, now, body) {
    body.appendChild(TV.svg("line", {"class": "cursor", x1: f.sx(now), x2: f.sx(now), y1: MT, y2: H - MB}));
  }

  function range(side) {
    var s = TV.doc.series.tsg[side], ts = [];
    s.data.forEach(function (d) { ts.push(d[0]); });
    s.acks.forEach(function (a) { ts.push(a[0]); });
    if (!ts.length) { return [0, 1]; }
    var lo = Math.min.apply(null, ts), hi = Math.max.apply(null, ts);
    var pad = Math.max((hi - lo) * 0.04, 0.005);
    return [Math.max(0, lo - pad), hi + pad];
  }

  function tsg(side, xr, now) {
    var root = TV.clear(TV.$("tv-tsg")), s = TV.doc.series.tsg[side];
    var top = 1;
    s.data.forEach(function (d) { top = Math.max(top, d[1] + d[2]); });
    s.acks.forEach(function (a) { top = Math.max(top, a[1]); });
    var f = frame(root, xr[0], xr[1], 0, top * 1.12, TV.t("tsg_y"), "tv-clip-tsg");
    root.setAttribute("data-side", side);
    var past = s.acks.filter(function (a) { return a[0] <= now; });
    var future = s.acks.filter(function (a) { return a[0] > now; });
    [[past, ""], [past.slice(-1).concat(future), " future"]].forEach(function (part) {
      if (part[0].length) {
        f.body.appendChild(TV.svg("path", {"class": "ackline" + part[1], d: stepPath(part[0], f.sx, f.sy)}));
        var win = part[0].filter(function (a) { return a[2] !== null; }).map(function (a) { return [a[0], a[2]]; });
        if (win.length) {
          f.body.appendChild(TV.svg("path", {"class": "winline" + part[1], d: stepPath(win, f.sx, f.sy)}));
        }
      }
    });
    s.data.forEach(function (d) {
      var x = f.sx(d[0]).toFixed(1);
      f.body.appendChild(TV.svg("line", {"class": "data" + (d[3] ? " retx" : "") + (d[4] === "lost" ? " lost" : "") +
        (d[0] > now ? " future" : ""), x1: x, x2: x, y1: f.sy(d[1]), y2: f.sy(d[1] + d[2]),
        "data-t": d[0], "data-seq": d[1]}));
    });
    cursor(f, now, f.body);
  }

  function cwnd(side, xr, now) {
    var root = TV.clear(TV.$("tv-cwnd")), pts = TV.doc.series.cwnd[side] || [];
    var inRange = pts.filter(function (p) { return p[0] >= xr[0] && p[0] <= xr[1]; });
    var before = pts.filter(function (p) { return p[0] < xr[0]; }).slice(-1);
    var shown = before.map(function (p) { return [xr[0], p[1], p[2]]; }).concat(inRange);
    if (shown.length) { shown.push([xr[1], shown[shown.length - 1][1], shown[shown.length - 1][2]]); }
    var top = 1;
    shown.forEach(function (p) {
      if (p[1] !== null) { top = Math.max(top, p[1]); }
      if (p[2] !== null && p[2] < UNLIMITED) { top = Math.max(top, p[2]); }
    });
    var f = frame(root, xr[0], xr[1], 0, top * 1.12, "cwnd (" + TV.t("bytes") + ")", "tv-clip-cwnd");
    root.setAttribute("data-side", side);
    var c = shown.filter(function (p) { return p[1] !== null; }).map(function (p) { return [p[0], p[1]]; });
    var st = shown.filter(function (p) { return p[2] !== null && p[2] < UNLIMITED; }).map(function (p) { return [p[0], p[2]]; });
    if (c.length) { f.body.appendChild(TV.svg("path", {"class": "cwnd", d: stepPath(c, f.sx, f.sy)})); }
    if (st.length) { f.body.appendChild(TV.svg("path", {"class": "ssthresh", d: stepPath(st, f.sx, f.sy)})); }
    f.body.appendChild(TV.svg("rect", {"class": "future", x: f.sx(Math.max(now, xr[0])), y: MT,
      width: Math.max(0, f.sx(xr[1]) - f.sx(Math.max(now, xr[0]))), height: H - MT - MB, fill: "#fff"}));
    cursor(f, now, f.body);
  }

  function dirs(side) {
    var box = TV.clear(TV.$("tv-tsg-dirs")), tsgs = TV.doc.series.tsg, h = TV.doc.hosts;
    ["L", "R"].forEach(function (s) {
      if (!tsgs[s].data.length) { return; }
      var other = s === "L" ? "R" : "L";
      var b = TV.el("button", {type: "button", "class": s === side ? "on" : null, "data-side": s},
        TV.t("direction", {src: h[s].name, dst: h[other].name}) + " (" + tsgs[s].bytes + " " + TV.t("bytes") + ")");
      b.addEventListener("click", function () { TV.tsgSide = s; TV.plots.render(); });
      box.appendChild(b);
    });
  }

  function render() {
    var pane = TV.$("tv-plots");
    if (!TV.doc || !TV.doc.series.has_data) {
      pane.setAttribute("data-has-data", "false");
      TV.clear(TV.$("tv-tsg")); TV.clear(TV.$("tv-cwnd"));
      TV.clear(TV.$("tv-tsg-dirs")).appendChild(TV.el("p", {"class": "hint"}, TV.t("no_data")));
      return;
    }
    pane.setAttribute("data-has-data", "true");
    var side = sender(), st = TV.step(), now = st ? st.t : 0, xr = range(side);
    dirs(side);
    tsg(side, xr, now);
    cwnd(side, xr, now);
  }

  return {render: render};
}());
