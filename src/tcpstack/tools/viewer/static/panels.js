/* The panels beside the ladder: the step counter, the explanation, both ends'
 * TCB and the current segment's header as Wireshark shows it. */
TV.fateWords = function (fate) { return TV.catalog["fate_" + fate] || fate; };

TV.panels = (function () {
  var FIELDS = [
    ["SND.UNA", "snd_una", "seq"], ["SND.NXT", "snd_nxt", "seq"], ["SND.WND", "snd_wnd", "bytes"],
    ["RCV.NXT", "rcv_nxt", "seq"], ["RCV.WND", "rcv_wnd", "bytes"], ["cwnd", "cwnd", "bytes"],
    ["ssthresh", "ssthresh", "bytes"], ["srtt", "srtt", "secs"], ["rto", "rto", "secs"],
    ["unread", "unread", "bytes"]
  ];
  var UNLIMITED = Math.pow(2, 30);

  function value(snap, name, kind) {
    var v = snap[name];
    if (v === null || v === undefined) { return ["—"]; }
    if (kind === "seq") {
      var rel = snap[name + "_rel"];
      if (rel === null || rel === undefined) { return [String(v)]; }
      return TV.abs ? [String(v), " ", TV.el("small", null, "(" + rel + ")")]
                    : [String(rel), " ", TV.el("small", null, "(" + v + ")")];
    }
    if (kind === "secs") { return [Number(v).toFixed(3) + " " + TV.t("seconds")]; }
    if (name === "ssthresh" && v >= UNLIMITED) { return ["∞ ", TV.el("small", null, "(" + v + ")")]; }
    return [String(v)];
  }

  /* One running timer; "restarted" only at the step that re-armed it while it ran. */
  function timerLine(e, now, prevSnap) {
    var old = prevSnap && prevSnap.timers.filter(function (x) { return x.timer === e.timer; })[0];
    var changed = !old || old.at !== e.at;
    var restarted = changed && e.prev !== null && e.prev !== undefined;
    var words = TV.pick(TV.catalog["timer_" + e.timer]) || e.timer;
    var text = words + ": " + TV.t("expires", {at: TV.secs(e.at), left: (e.at - now).toFixed(3)});
    var li = TV.el("li", {"data-timer": e.timer, "data-at": e.at,
      "class": [restarted ? "restarted" : "", changed ? "changed" : ""].join(" ").trim() || null},
      text);
    if (restarted) {
      TV.append(li, [" — ", TV.el("small", null, TV.t("restarted", {prev: TV.secs(e.prev)}))]);
    }
    return li;
  }

  function tcb(side) {
    var node = TV.clear(TV.$("tv-tcb-" + side));
    node.className = "tcb " + side;
    if (!TV.doc) { return; }
    var host = TV.doc.hosts[side], st = TV.step();
    TV.append(node, TV.el("h3", null, [TV.t("tcb") + " · " + host.name + " ",
      TV.el("span", {"class": "addr"}, host.addr || "")]));
    var snap = TV.tcbAt(side, TV.cur), prev = TV.cur > 0 ? TV.tcbAt(side, TV.cur - 1) : null;
    if (!host.traced) {
      node.setAttribute("data-state", "");
      TV.append(node, TV.el("p", {"class": "hint"}, TV.t("not_traced")));
      return;
    }
    if (!snap) {
      TV.append(node, TV.el("p", {"class": "hint"}, TV.t("no_connection")));
      return;
    }
    node.setAttribute("data-state", snap.state || "");
    TV.append(node, TV.el("div", {"class": "state" + (prev && prev.state !== snap.state ? " changed" : ""),
      "data-field": "state", title: TV.t("state")}, snap.state || "—"));
    var table = TV.el("table");
    FIELDS.forEach(function (f) {
      var changed = prev && prev[f[1]] !== snap[f[1]];
      table.appendChild(TV.el("tr", {"data-field": f[1], "class": changed ? "changed" : null}, [
        TV.el("th", {title: TV.t(f[0])}, f[0] === "unread" ? TV.t("unread_short") : f[0]),
        TV.el("td", null, value(snap, f[1], f[2]))
      ]));
    });
    node.appendChild(table);
    TV.append(node, TV.el("h3", {style: "margin-top:.4em"}, TV.t("timers")));
    var ul = TV.el("ul", {"data-field": "timers"});
    if (!snap.timers.length) { ul.appendChild(TV.el("li", {"class": "none"}, TV.t("no_timers"))); }
    snap.timers.forEach(function (e) { ul.appendChild(timerLine(e, st ? st.t : 0, prev)); });
    node.appendChild(ul);
  }

  function stepIndex() {
    var node = TV.$("tv-step"), steps = TV.steps(), st = TV.step();
    TV.$("tv-slider").max = Math.max(0, steps.length - 1);
    TV.$("tv-slider").value = TV.cur;
    if (!st) { node.textContent = TV.t("step") + " 0 / 0"; return; }
    node.textContent = TV.t("step") + " " + (TV.cur + 1) + " / " + steps.length + " · " +
      TV.t("time") + " " + TV.secs(st.t) + " " + TV.t("seconds");
    TV.setAttrs(node, {"data-step": TV.cur, "data-kind": st.kind, "data-host": st.host,
      "data-seg": st.seg === null ? "" : st.seg});
    TV.$("tv-prev").disabled = TV.cur <= 0;
    TV.$("tv-next").disabled = TV.cur >= steps.length - 1;
  }

  function explanation() {
    var node = TV.clear(TV.$("tv-explanation"));
    if (!TV.doc) { TV.append(node, TV.el("p", null, TV.t("pick"))); return; }
    var about = TV.doc.about;
    if (about && (about.question || about.summary || about.answer)) {
      var head = about.question ? TV.t("question") + ": " + TV.pick(about.question)
        : (about.name ? about.name + ": " : "") + TV.pick(about.summary);
      var det = TV.el("details", {open: true, "data-part": "about"},
        [TV.el("summary", {"class": "q"}, head)]);
      if (about.answer) {
        det.appendChild(TV.el("p", null, [TV.el("b", null, TV.t("answer") + ": "), TV.pick(about.answer)]));
      }
      node.appendChild(det);
    }
    var st = TV.step();
    if (!st) { TV.append(node, TV.el("p", null, TV.t("empty"))); return; }
    TV.append(node, [TV.el("h3", null, TV.t("this_step")),
      TV.el("p", {"class": "step-text", "data-part": "step"}, TV.pick(st.text))]);
    if (st.kind === "state" && st.rule) {
      node.appendChild(TV.el("p", {"class": "rule"}, TV.t("rule") + ": " + st.rule));
    }
    if (st.effects.length) {
      node.appendChild(TV.el("ul", {"data-part": "effects"},
        st.effects.map(function (e) { return TV.el("li", null, TV.pick(e.text)); })));
    }
    if (st.notes.length) {
      node.appendChild(TV.el("ul", {"class": "note", "data-part": "notes"},
        st.notes.map(function (n) { return TV.el("li", {"class": "note"}, TV.pick(n.text)); })));
    }
  }

  /* The header tree of a segment, Wireshark style: [[depth, text, class]]. */
  var BITS = [["Reserved", null], ["Accurate ECN", null], ["Congestion Window Reduced", "CWR"],
    ["ECN-Echo", "ECE"], ["Urgent", "URG"], ["Acknowledgment", "ACK"], ["Push", "PSH"],
    ["Reset", "RST"], ["Syn", "SYN"], ["Fin", "FIN"]];
  var FLAG_VALUE = {FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128};

  function bitLine(pos, width, set) {
    var chars = [];
    for (var i = 0; i < 12; i += 1) { chars.push(i >= pos && i < pos + width ? (set ? "1" : "0") : "."); }
    var s = chars.join("");
    return s.slice(0, 4) + " " + s.slice(4, 8) + " " + s.slice(8);
  }

  function tree(seg) {
    var lines = [];
    function add(d, text, cls) { lines.push([d, text, cls || ""]); }
    var v6 = String(seg.src_ip).indexOf(":") >= 0;
    add(0, "Internet Protocol Version " + (v6 ? "6" : "4") + ", Src: " + seg.src_ip + ", Dst: " + seg.dst_ip);
    var has = function (f) { return seg.flags.indexOf(f) >= 0; };
    var relSeq = seg.rel_seq === null ? seg.seq : seg.rel_seq;
    var relAck = seg.rel_ack === null ? seg.ack : seg.rel_ack;
    add(0, "Transmission Control Protocol, Src Port: " + seg.src_port + ", Dst Port: " + seg.dst_port +
      ", Seq: " + relSeq + (has("ACK") ? ", Ack: " + relAck : "") + ", Len: " + seg.len);
    add(1, "Source Port: " + seg.src_port);
    add(1, "Destination Port: " + seg.dst_port);
    add(1, "[TCP Segment Len: " + seg.len + "]");
    add(1, "Sequence Number: " + relSeq + "    (relative sequence number)");
    add(1, "Sequence Number (raw): " + seg.seq);
    if (seg.next_rel_seq !== null) {
      add(1, "[Next Sequence Number: " + seg.next_rel_seq + "    (relative sequence number)]");
    }
    if (has("ACK")) {
      add(1, "Acknowledgment Number: " + relAck + "    (relative ack number)");
      add(1, "Acknowledgment number (raw): " + seg.ack);
    } else {
      add(1, "Acknowledgment Number: 0");
    }
    var hex = 0;
    seg.flags.forEach(function (f) { hex += FLAG_VALUE[f] || 0; });
    add(1, "Flags: 0x" + ("000" + hex.toString(16)).slice(-3) + " (" + (seg.flags.join(", ") || "none") + ")");
    add(2, bitLine(0, 3, false) + " = Reserved: Not set");
    BITS.slice(1).forEach(function (b, k) {
      var set = b[1] !== null && has(b[1]);
      add(2, bitLine(3 + k, 1, set) + " = " + b[0] + ": " + (set ? "Set" : "Not set"), set ? "set" : "");
    });
    var letters = "RRRACEUAPRSF", names = [null, null, null, null, "CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN"];
    add(2, "[TCP Flags: " + names.map(function (n, i) { return n && has(n) ? letters[i] : "·"; }).join("") + "]");
    add(1, "Window: " + seg.window);
    if (seg.window_scaled !== null) { add(1, "[Calculated window size: " + seg.window_scaled + "]"); }
    if (seg.window_shift !== null && seg.window_shift !== undefined) {
      add(1, "[Window size scaling factor: " + Math.pow(2, seg.window_shift) + "]");
    }
    var opts = seg.options || {}, keys = Object.keys(opts);
    if (keys.length) {
      add(1, "Options:");
      keys.forEach(function (k) {
        var v = opts[k];
        if (k === "mss") { add(2, "TCP Option - Maximum segment size: " + v + " bytes"); }
        else if (k === "sack_permitted") { if (v) { add(2, "TCP Option - SACK permitted"); } }
        else if (k === "ts" && Array.isArray(v)) { add(2, "TCP Option - Timestamps: TSval " + v[0] + ", TSecr " + v[1]); }
        else if (k === "wscale") { add(2, "TCP Option - Window scale: " + v + " (multiply by " + Math.pow(2, v) + ")"); }
        else if (k === "sack" && Array.isArray(v)) {
          add(2, "TCP Option - SACK " + v.map(function (b) { return b[0] + "-" + b[1]; }).join(" "));
        } else { add(2, "TCP Option - " + k + ": " + JSON.stringify(v)); }
      });
    }
    if (seg.retransmission) {
      add(1, "[SEQ/ACK analysis]");
      add(2, "[TCP Analysis Flags]");
      add(3, "[" + TV.t("retransmission") + "]", "analysis");
    }
    var fate = TV.pick(TV.fateWords(seg.fate)) + (seg.drop_reason ? ": " + seg.drop_reason : "");
    add(1, "[tcpstack: " + seg.src + " → " + seg.dst + ", " + TV.t("time") + " " + TV.secs(seg.sent) +
      (seg.received !== null ? " → " + TV.secs(seg.received) : "") + " " + TV.t("seconds") + "]");
    add(1, "[" + fate + "]", "fate-" + seg.fate);
    return lines;
  }

  function segment() {
    var node = TV.clear(TV.$("tv-segment"));
    if (!TV.doc) { return; }
    var at = TV.segmentAt(TV.cur);
    if (!at) { node.removeAttribute("data-seg"); TV.append(node, TV.el("p", {"class": "hint"}, TV.t("no_segment"))); return; }
    var seg = at.seg;
    TV.setAttrs(node, {"data-seg": seg.i, "data-fate": seg.fate, "data-flags": seg.flags.join(",")});
    node.appendChild(TV.el("h3", null, TV.t("segment")));
    if (!at.own) { node.appendChild(TV.el("div", {"class": "caption"}, TV.t("last_segment", {n: at.step + 1}))); }
    tree(seg).forEach(function (l) {
      node.appendChild(TV.el("div", {"class": "line l" + l[0] + (l[2] ? " " + l[2] : "")},
        new Array(l[0] + 1).join("    ") + l[1]));
    });
  }

  return {tcb: tcb, stepIndex: stepIndex, explanation: explanation, segment: segment, tree: tree};
}());
