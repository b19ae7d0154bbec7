/* tcpstack viewer: shared state and helpers.
 * Every script of the page adds to the one object TV; main.js starts it.
 * The document (TV.doc) comes from tcpstack.tools.viewer.build_document. */
var TV = {
  doc: null,       // the run being shown
  cur: 0,          // the current step
  lang: "en",      // "en" or "zh"
  abs: false,      // absolute sequence numbers
  catalog: {},     // UI words by key: {en, zh}
  config: {},      // mode ("file" or "ui"), scenarios, defaults
  tsgSide: null    // the direction the time-sequence graph shows ("L" or "R")
};

TV.SVGNS = "http://www.w3.org/2000/svg";

/* An HTML element: el("td", {class: "x"}, ["text", child]). */
TV.el = function (tag, attrs, children) {
  var node = document.createElement(tag);
  TV.setAttrs(node, attrs);
  TV.append(node, children);
  return node;
};

/* An SVG element. */
TV.svg = function (tag, attrs, children) {
  var node = document.createElementNS(TV.SVGNS, tag);
  TV.setAttrs(node, attrs);
  TV.append(node, children);
  return node;
};

TV.setAttrs = function (node, attrs) {
  if (!attrs) { return; }
  Object.keys(attrs).forEach(function (k) {
    var v = attrs[k];
    if (v === null || v === undefined || v === false) { return; }
    node.setAttribute(k, v === true ? "" : String(v));
  });
};

TV.append = function (node, children) {
  if (children === null || children === undefined) { return; }
  if (!Array.isArray(children)) { children = [children]; }
  children.forEach(function (c) {
    if (c === null || c === undefined || c === false) { return; }
    node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  });
};

TV.clear = function (node) {
  while (node.firstChild) { node.removeChild(node.firstChild); }
  return node;
};

TV.$ = function (id) { return document.getElementById(id); };

/* A two-language text ({en, zh}, zh optional) in the current language. */
TV.pick = function (text) {
  if (text === null || text === undefined) { return ""; }
  if (typeof text === "string") { return text; }
  return (TV.lang === "zh" && text.zh) ? text.zh : (text.en || "");
};

/* A UI word from the catalog, with {name} fields filled from vars. */
TV.t = function (key, vars) {
  var s = TV.pick(TV.catalog[key]) || key;
  if (vars) {
    s = s.replace(/\{(\w+)\}/g, function (m, name) {
      return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m;
    });
  }
  return s;
};

/* Seconds with three decimals (six when the run needs them). */
TV.secs = function (x) {
  if (x === null || x === undefined) { return "?"; }
  var d = (TV.doc && TV.doc.decimals) || 3;
  return Number(x).toFixed(d);
};

TV.steps = function () { return (TV.doc && TV.doc.steps) || []; };
TV.step = function (i) { var s = TV.steps(); return s[i === undefined ? TV.cur : i] || null; };
TV.side = function (host) {
  var h = TV.doc.hosts;
  return host === h.L.name ? "L" : (host === h.R.name ? "R" : null);
};

/* The TCB of a side ("L"/"R") after step i. */
TV.tcbAt = function (side, i) {
  var st = TV.step(i);
  if (!st || !st.tcb) { return null; }
  return TV.doc.tcbs[st.tcb[side === "L" ? 0 : 1]] || null;
};

/* The state changes of a side up to step i: [{old, new, cause, i}]. */
TV.pathOf = function (side, i) {
  var out = [];
  TV.steps().forEach(function (st) {
    if (st.i <= i && st.kind === "state" && st.side === side) {
      out.push({old: st.old, "new": st["new"], cause: st.cause, i: st.i});
    }
  });
  return out;
};

/* The segment shown at step i: its own, else the latest one before it. */
TV.segmentAt = function (i) {
  for (var k = i; k >= 0; k -= 1) {
    var st = TV.step(k);
    if (st && st.seg !== null && st.seg !== undefined) {
      return {seg: TV.doc.segments[st.seg], step: k, own: k === i};
    }
  }
  return null;
};

/* Round numbers for an axis from lo to hi: about n ticks. */
TV.ticks = function (lo, hi, n) {
  if (!(hi > lo)) { return [lo]; }
  var raw = (hi - lo) / Math.max(1, n);
  var mag = Math.pow(10, Math.floor(Math.log10(raw)));
  var step = [1, 2, 5, 10].map(function (m) { return m * mag; })
    .filter(function (s) { return s >= raw; })[0] || 10 * mag;
  var out = [];
  for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
};

TV.fmtTick = function (v) {
  if (Math.abs(v) >= 1e6) { return (v / 1e6).toFixed(v % 1e6 ? 1 : 0) + "M"; }
  if (Math.abs(v) >= 1e4) { return (v / 1e3).toFixed(v % 1e3 ? 1 : 0) + "k"; }
  return String(Math.round(v * 1000) / 1000);
};
