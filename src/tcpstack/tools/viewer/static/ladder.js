/* The ladder diagram, drawn up to the current step.
 * One row per step (time runs down; idle gaps of doc.gap seconds or more are
 * cut and labelled). A segment is an arrow from the row where it was sent to
 * the row where it arrived; three fates look different: lost in the network
 * (stops half-way, red ✕), arrived and discarded by TCP (reaches the
 * receiver, orange ⊘ and the reason), arrived and processed (arrow head). */
TV.ladder = (function () {
  var ROW = 22, GAP = 38, TOP = 58, TIMECOL = 64, SPAN = 400, CHAR = 6.7;
  var layout = null;

  function markText(st) {
    if (st.kind === "state") { return st["new"]; }
    if (st.kind === "call") { return st.label || st.call; }
    if (st.kind === "timer" && st.action === "fired") { return TV.t("mark_fired", {timer: st.timer}); }
    if (st.kind === "restart") { return TV.t("mark_restart"); }
    if (st.kind === "drop" && (st.seg === null || st.seg === undefined)) { return "⊘ " + st.reason; }
    return null;
  }

  function marksOf(st) {
    var out = [];
    var m = markText(st);
    if (m) { out.push({text: m, cls: st.kind}); }
    (st.effects || []).forEach(function (e) {
      if (e.action === "restarted" && e.timer === "time_wait") {
        out.push({text: TV.t("mark_2msl"), cls: "note"});
      }
    });
    if (!out.length && st.notes && st.notes.length) {
      var n = TV.pick(st.notes[0].text);
      out.push({text: n.length > 44 ? n.slice(0, 43) + "…" : n, cls: "note", title: n});
    }
    return out;
  }

  function compute() {
    var doc = TV.doc, steps = TV.steps();
    var width = {L: 90, R: 90};
    var rows = [], gaps = [], marks = {};
    steps.forEach(function (st) {
      var ms = marksOf(st);
      (doc.marks || []).forEach(function (m) {
        if (m.step === st.i) { ms.push({text: m.text, cls: "note", side: m.side}); }
      });
      ms.forEach(function (m) {
        var side = m.side || st.side || "L";
        width[side] = Math.max(width[side], Math.min(260, m.text.length * CHAR + 16));
      });
      marks[st.i] = ms;
    });
    var y = TOP + 22;
    steps.forEach(function (st, k) {
      if (k > 0) {
        var dt = st.t - steps[k - 1].t;
        if (dt >= doc.gap) {
          gaps.push({y0: y + 8, y1: y + 8 + GAP, dt: dt});
          y += GAP + 16;
        } else {
          y += ROW + (marks[st.i].length > 1 ? 10 : 0);
        }
      }
      rows.push(y);
    });
    var xL = TIMECOL + width.L, xR = xL + SPAN;
    layout = {rows: rows, gaps: gaps, marks: marks, xL: xL, xR: xR,
              width: xR + width.R, height: y + 40};
  }

  function xOf(side) { return side === "L" ? layout.xL : layout.xR; }

  function drawHeader(g) {
    var doc = TV.doc;
    ["L", "R"].forEach(function (side) {
      var h = doc.hosts[side], x = xOf(side);
      g.appendChild(TV.svg("text", {"class": "host", x: x, y: 18, "text-anchor": "middle"},
        h.traced ? h.name : h.name + " (" + TV.t("not_traced") + ")"));
      if (h.addr) {
        g.appendChild(TV.svg("text", {"class": "addr", x: x, y: 34, "text-anchor": "middle"}, h.addr));
      }
    });
    g.appendChild(TV.svg("text", {"class": "time", x: 4, y: 34}, TV.t("time") + " (" + TV.t("seconds") + ")"));
  }

  function drawLifelines(g) {
    [layout.xL, layout.xR].forEach(function (x) {
      var cur = TOP - 14;
      layout.gaps.forEach(function (gp) {
        g.appendChild(TV.svg("line", {"class": "lifeline", x1: x, x2: x, y1: cur, y2: gp.y0}));
        g.appendChild(TV.svg("line", {"class": "lifeline cut", x1: x, x2: x, y1: gp.y0, y2: gp.y1}));
        cur = gp.y1;
      });
      g.appendChild(TV.svg("line", {"class": "lifeline", x1: x, x2: x, y1: cur, y2: layout.height - 10}));
    });
    layout.gaps.forEach(function (gp) {
      g.appendChild(TV.svg("text", {"class": "gap", x: (layout.xL + layout.xR) / 2,
        y: (gp.y0 + gp.y1) / 2 + 4, "text-anchor": "middle"},
        "⋮ " + gp.dt.toFixed(3) + " " + TV.t("seconds") + " ⋮"));
    });
  }

  function drawRows(g) {
    var steps = TV.steps(), y = layout.rows[TV.cur];
    if (y !== undefined) {
      g.appendChild(TV.svg("rect", {"class": "row-now", x: 0, y: y - 10, width: layout.width, height: 20}));
    }
    var last = null;
    steps.forEach(function (st, k) {
      if (k <= TV.cur && st.t !== last) {
        g.appendChild(TV.svg("text", {"class": "time", x: 4, y: layout.rows[k] + 4,
          "font-weight": k === TV.cur ? "bold" : null}, TV.secs(st.t)));
        last = st.t;
      }
    });
  }

  function drawMarks(g) {
    TV.steps().forEach(function (st, k) {
      if (k > TV.cur) { return; }
      layout.marks[st.i].forEach(function (m, n) {
        var side = m.side || st.side || "L";
        var left = side === "L";
        var t = TV.svg("text", {"class": "mark " + m.cls, "data-step": st.i,
          x: left ? layout.xL - 8 : layout.xR + 8, y: layout.rows[k] + 4 + n * 11,
          "text-anchor": left ? "end" : "start"}, m.text);
        if (m.title) { t.appendChild(TV.svg("title", null, m.title)); }
        g.appendChild(t);
      });
    });
  }

  function labelFor(seg) { return TV.abs ? seg.label_abs : seg.label_rel; }

  /* The arrow of one segment as far as the current step has it: null if not yet sent. */
  function geometry(seg) {
    var rows = layout.rows, cur = TV.cur;
    var xs = xOf(seg.side), xd = xOf(seg.side === "L" ? "R" : "L");
    var sent = seg.step_sent, end = seg.step_arrived;
    if (end === null || end === undefined) { end = seg.step_dropped; }
    var g = {x1: xs, x2: xd, head: true, inflight: false, tail: null};
    if (sent === null || sent === undefined) {           // received, its send not traced
      if (end === null || end === undefined || end > cur) { return null; }
      g.y2 = rows[end]; g.y1 = g.y2 - 18; g.x1 = xs + 0.5 * (xd - xs); g.tail = null;
      return g;
    }
    if (sent > cur) { return null; }
    g.y1 = rows[sent];
    if (seg.fate === "lost") {
      g.x2 = xs + 0.6 * (xd - xs); g.y2 = g.y1 + 26; g.head = false;
      if (seg.step_lost !== null && seg.step_lost !== undefined && seg.step_lost <= cur) { g.tail = "lost"; }
      return g;
    }
    if (end === null || end === undefined) {             // never seen again: fate unknown
      if (seg.status === "one-sided") { g.y2 = g.y1 + 20; return g; }
      g.x2 = xs + 0.7 * (xd - xs); g.y2 = g.y1 + 26; g.head = false; g.tail = "unknown";
      return g;
    }
    g.y2 = rows[end];
    if (end > cur) {                                      // in flight at this step
      var f = (rows[cur] - g.y1) / Math.max(1, g.y2 - g.y1);
      f = Math.max(0.08, Math.min(0.92, f));
      g.x2 = xs + f * (xd - xs); g.y2 = g.y1 + f * (g.y2 - g.y1);
      g.head = false; g.inflight = true;
      return g;
    }
    if (seg.fate === "dropped" && seg.step_dropped !== null && seg.step_dropped !== undefined &&
        seg.step_dropped <= cur) {
      g.head = false;                                     // discarded: no arrow head, ⊘ and why
      g.tail = "dropped";
    }
    return g;
  }

  function drawSegment(g, seg, current) {
    var geo = geometry(seg);
    if (!geo) { return; }
    var color = "var(--" + seg.category + ")";
    var cls = "seg " + seg.category + " " + seg.fate + (geo.inflight ? " inflight" : "") +
      (current ? " current" : "");
    var grp = TV.svg("g", {"class": cls, "data-seg": seg.i, "data-fate": seg.fate});
    grp.appendChild(TV.svg("title", null, seg.src + " → " + seg.dst + ": " + labelFor(seg) +
      " — " + TV.pick(TV.fateWords(seg.fate)) + (seg.drop_reason ? " (" + seg.drop_reason + ")" : "")));
    var line = {x1: geo.x1, y1: geo.y1, x2: geo.x2, y2: geo.y2};
    grp.appendChild(TV.svg("line", Object.assign({"class": "hit"}, line)));
    grp.appendChild(TV.svg("line", Object.assign({"class": "shaft", stroke: color,
      "stroke-width": 1.6, "marker-end": geo.head ? "url(#tv-head-" + seg.category + ")" : null}, line)));
    var dx = geo.x2 - geo.x1, dy = geo.y2 - geo.y1;
    if (geo.tail) {
      var right = dx > 0;
      var word = geo.tail === "lost" ? TV.t("mark_lost") :
        (geo.tail === "dropped" ? "⊘ " + (seg.drop_reason || "dropped") : "?");
      grp.appendChild(TV.svg("text", {"class": "end " + geo.tail, x: geo.x2 + (right ? 4 : -4),
        y: geo.y2 + 4, "text-anchor": right ? "start" : "end"}, word));
    }
    var lx = geo.x1 + 0.5 * dx, ly = geo.y1 + 0.5 * dy;
    var angle = Math.atan2(dy, dx) * 180 / Math.PI;
    if (angle > 90 || angle < -90) { angle += 180; }
    var text = labelFor(seg) + (seg.retransmission ? " ↺" : "");
    var room = Math.sqrt(dx * dx + dy * dy) - 16;
    var size = Math.max(7, Math.min(11, room / (text.length * 0.61)));
    grp.appendChild(TV.svg("text", {"class": "label", x: lx, y: ly - 4, "text-anchor": "middle",
      fill: color, "font-size": size.toFixed(1) + "px",
      transform: "rotate(" + angle.toFixed(2) + " " + lx.toFixed(1) + " " + ly.toFixed(1) + ")"}, text));
    grp.addEventListener("click", function () {
      var to = seg.step_sent !== null && seg.step_sent !== undefined ? seg.step_sent : seg.step_arrived;
      if (to !== null && to !== undefined) { TV.go(to); }
    });
    g.appendChild(grp);
  }

  function defs() {
    var d = TV.svg("defs");
    ["syn", "fin", "rst", "data", "ack"].forEach(function (cat) {
      d.appendChild(TV.svg("marker", {id: "tv-head-" + cat, viewBox: "0 0 10 10", refX: 10, refY: 5,
        markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse"},
        TV.svg("path", {d: "M0,0 L10,5 L0,10 z", fill: "var(--" + cat + ")"})));
    });
    return d;
  }

  /* Keep the current row in view: once per frame, after the drawing (reading the
   * scroll position right after rebuilding the SVG would force a layout per step). */
  var scrollPending = false;
  function scrollIntoView() {
    if (scrollPending) { return; }
    scrollPending = true;
    window.requestAnimationFrame(function () {
      scrollPending = false;
      var box = TV.$("tv-ladder-scroll"), y = layout && layout.rows[TV.cur];
      if (!box || y === undefined || y === null) { return; }
      if (y < box.scrollTop + 50 || y > box.scrollTop + box.clientHeight - 40) {
        box.scrollTop = Math.max(0, y - box.clientHeight / 2);
      }
    });
  }

  return {
    /* Lay the rows out again (a new document). */
    reset: function () { layout = null; },
    render: function () {
      var root = TV.clear(TV.$("tv-ladder"));
      if (!TV.doc) { return; }
      if (!layout) { compute(); }
      TV.setAttrs(root, {width: layout.width, height: layout.height,
        viewBox: "0 0 " + layout.width + " " + layout.height,
        "aria-label": "TCP ladder " + (TV.doc.conn || ""), "data-step": TV.cur});
      root.appendChild(defs());
      var g = TV.svg("g");
      root.appendChild(g);
      drawRows(g);
      drawHeader(g);
      drawLifelines(g);
      drawMarks(g);
      var st = TV.step();
      var current = st ? st.seg : null;
      TV.doc.segments.forEach(function (seg) { drawSegment(g, seg, seg.i === current); });
      if (!TV.steps().length) {
        g.appendChild(TV.svg("text", {x: layout.xL, y: TOP + 30}, TV.t("empty")));
      }
      scrollIntoView();
    }
  };
}());
