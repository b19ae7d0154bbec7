/* Start the page: read its data, wire the controls, draw the current step.
 * In a file (config.mode "file") the run is embedded and nothing is fetched.
 * Under `tcpstack ui` (mode "ui") the form asks the server (POST api/run)
 * for a new run; an error comes back as {"error": "..."} and is shown. */
(function () {
  "use strict";

  function readJson(id) {
    var node = TV.$(id);
    try { return node ? JSON.parse(node.textContent) : null; } catch (e) { return null; }
  }

  function render() {
    TV.panels.stepIndex();
    TV.ladder.render();
    TV.panels.explanation();
    TV.panels.tcb("L");
    TV.panels.tcb("R");
    TV.panels.segment();
    TV.diagram.render();
    TV.plots.render();
  }

  function translate() {
    document.documentElement.lang = TV.lang === "zh" ? "zh-Hans" : "en";
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (n) {
      n.textContent = TV.t(n.getAttribute("data-i18n"));
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-title]"), function (n) {
      n.title = TV.t(n.getAttribute("data-i18n-title"));
    });
    TV.$("tv-lang").value = TV.lang;
    fillScenarioSummary();
  }

  TV.go = function (i) {
    var n = TV.steps().length;
    TV.cur = Math.max(0, Math.min(n - 1, i));
    render();
  };

  function jumpSegment(dir) {
    var steps = TV.steps();
    for (var k = TV.cur + dir; k >= 0 && k < steps.length; k += dir) {
      if (steps[k].seg !== null && steps[k].seg !== undefined) { TV.go(k); return; }
    }
    TV.go(dir > 0 ? steps.length - 1 : 0);
  }

  TV.setDoc = function (doc, keepTime) {
    var t = keepTime && TV.step() ? TV.step().t : null;
    TV.doc = doc;
    TV.tsgSide = null;
    TV.ladder.reset();
    TV.abs = !!(doc && doc.absolute) || TV.$("tv-abs").checked;
    TV.$("tv-abs").checked = TV.abs;
    TV.cur = 0;
    if (t !== null) {                      // a re-run: stay at the same moment
      TV.steps().forEach(function (st) { if (st.t <= t) { TV.cur = st.i; } });
    }
    fillConnections();
    describe();
    render();
  };

  /* The heading: the run's title, its hosts and its size. */
  function describe() {
    var doc = TV.doc, meta = "";
    if (doc) {
      document.title = doc.title;
      var h = doc.hosts;
      meta = h.L.name + (h.L.addr ? " (" + h.L.addr + ")" : "") + " ⇄ " + h.R.name +
        (h.R.addr ? " (" + h.R.addr + ")" : "") + " · " +
        TV.t("summary_counts", {segments: doc.segments.length, steps: doc.steps.length, time: TV.secs(doc.end)});
      var opts = (doc.about && doc.about.options) || {};
      var shown = Object.keys(opts).filter(function (k) {
        var v = opts[k];
        return v !== null && v !== false && !(Array.isArray(v) && !v.length);
      }).map(function (k) { return k + "=" + (Array.isArray(opts[k]) ? opts[k].join(",") : opts[k]); });
      if (shown.length) { meta += " · " + shown.join(" "); }
    }
    TV.$("tv-title").textContent = doc ? doc.title : TV.t("title");
    TV.$("tv-meta").textContent = meta;
  }

  /* ---- the ui mode: the run form ---- */

  function fillScenarioSummary() {
    var sel = TV.$("tv-scenario"), out = TV.$("tv-scenario-summary");
    if (!sel || !out) { return; }
    var sc = (TV.config.scenarios || []).filter(function (s) { return s.name === sel.value; })[0];
    out.textContent = sc ? TV.pick(sc.summary) : "";
  }

  function fillConnections() {
    var wrap = TV.$("tv-conn-wrap"), sel = TV.clear(TV.$("tv-conn"));
    var conns = (TV.doc && TV.doc.connections) || [];
    wrap.hidden = TV.config.mode !== "ui" || conns.length < 2;
    conns.forEach(function (c) {
      var o = TV.el("option", {value: c.conn}, c.conn + " (" + c.segments + ")");
      if (TV.doc.conn && (c.conn === TV.doc.conn || sameConn(c.conn, TV.doc.conn))) { o.selected = true; }
      sel.appendChild(o);
    });
  }

  function sameConn(a, b) {
    var pa = a.split("-"), pb = b.split("-");
    return pa.length === 2 && pb.length === 2 && pa[0] === pb[1] && pa[1] === pb[0];
  }

  function showError(message) {
    var box = TV.$("tv-error");
    box.hidden = !message;
    box.textContent = message ? TV.t("error") + ": " + message : "";
  }

  function formParams(withConn) {
    var form = TV.$("tv-form"), p = {scenario: TV.$("tv-scenario").value};
    ["seed", "loss", "delay", "jitter", "reorder", "duplicate", "msl"].forEach(function (k) {
      var v = form.elements[k].value.trim();
      if (v !== "") { p[k] = v; }
    });
    var drop = form.elements.drop.value.trim();
    if (drop) { p.drop = drop; }
    if (form.elements.drop_final_ack.checked) { p.drop_final_ack = true; }
    if (withConn && TV.$("tv-conn").value) { p.conn = TV.$("tv-conn").value; }
    return p;
  }

  function run(withConn) {
    var params = formParams(withConn), busy = TV.$("tv-busy");
    showError("");
    busy.hidden = false;
    busy.textContent = TV.t("running");
    TV.$("tv-run").disabled = true;
    var keep = TV.doc && TV.doc.about && TV.doc.about.name === params.scenario;
    try { history.replaceState(null, "", "#" + new URLSearchParams(params).toString()); } catch (e) { /* file: */ }
    return fetch("api/run", {method: "POST", headers: {"Content-Type": "application/json"},
                             body: JSON.stringify(params)})
      .then(function (resp) {
        return resp.json().then(function (body) {
          if (!resp.ok) { throw new Error(body && body.error ? body.error : "HTTP " + resp.status); }
          return body;
        });
      })
      .then(function (doc) { TV.setDoc(doc, keep); })
      .catch(function (err) { showError(err.message || String(err)); })
      .then(function () { busy.hidden = true; TV.$("tv-run").disabled = false; });
  }

  function setupForm() {
    var form = TV.$("tv-form"), sel = TV.$("tv-scenario");
    form.hidden = false;
    (TV.config.scenarios || []).forEach(function (sc) {
      sel.appendChild(TV.el("option", {value: sc.name}, sc.name));
    });
    var d = TV.config.defaults || {};
    var fromHash = {};
    try { new URLSearchParams(location.hash.slice(1)).forEach(function (v, k) { fromHash[k] = v; }); } catch (e) { /* old browser */ }
    var start = Object.keys(fromHash).length ? fromHash : d;
    if (start.scenario) { sel.value = start.scenario; }
    ["seed", "loss", "delay", "jitter", "reorder", "duplicate", "msl", "drop"].forEach(function (k) {
      var v = start[k] !== undefined ? start[k] : d[k];
      if (v !== undefined && v !== null) { form.elements[k].value = Array.isArray(v) ? v.join(", ") : v; }
    });
    form.elements.drop_final_ack.checked = start.drop_final_ack === true || start.drop_final_ack === "true";
    sel.addEventListener("change", fillScenarioSummary);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); run(false); });
    TV.$("tv-conn").addEventListener("change", function () { run(true); });
    fillScenarioSummary();
    return Object.keys(fromHash).length > 0;
  }

  /* ---- start ---- */

  TV.catalog = readJson("tv-catalog") || {};
  TV.config = readJson("tv-config") || {mode: "file"};
  TV.lang = TV.config.lang === "zh" ? "zh" : "en";
  var doc = readJson("tv-doc");

  TV.$("tv-lang").addEventListener("change", function () {
    TV.lang = this.value === "zh" ? "zh" : "en";
    this.blur();                         // so that ← → step again instead of changing it
    translate();
    describe();
    TV.ladder.reset();                   // its marks' widths change with the language
    render();
  });
  TV.$("tv-abs").addEventListener("change", function () { TV.abs = this.checked; render(); });
  TV.$("tv-first").addEventListener("click", function () { TV.go(0); });
  TV.$("tv-last").addEventListener("click", function () { TV.go(TV.steps().length - 1); });
  TV.$("tv-prev").addEventListener("click", function () { TV.go(TV.cur - 1); });
  TV.$("tv-next").addEventListener("click", function () { TV.go(TV.cur + 1); });
  TV.$("tv-prev-seg").addEventListener("click", function () { jumpSegment(-1); });
  TV.$("tv-next-seg").addEventListener("click", function () { jumpSegment(1); });
  TV.$("tv-slider").addEventListener("input", function () { TV.go(Number(this.value)); });
  document.addEventListener("keydown", function (ev) {
    var tag = ev.target && ev.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
    if (!TV.doc) { return; }
    if (ev.key === "ArrowRight") { if (ev.shiftKey) { jumpSegment(1); } else { TV.go(TV.cur + 1); } }
    else if (ev.key === "ArrowLeft") { if (ev.shiftKey) { jumpSegment(-1); } else { TV.go(TV.cur - 1); } }
    else if (ev.key === "Home") { TV.go(0); }
    else if (ev.key === "End") { TV.go(TV.steps().length - 1); }
    else { return; }
    ev.preventDefault();
  });

  var runNow = false;
  if (TV.config.mode === "ui") { runNow = setupForm(); }
  translate();
  if (doc) { TV.setDoc(doc, false); } else { render(); }
  if (TV.config.mode === "ui" && (runNow || !doc)) { run(false); }
  window.tcpstackViewer = TV;      // for scripting the page
}());
