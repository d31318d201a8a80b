// cab-trace cell page player. Shows what the page's data blocks hold: the spans on a waterfall with
// a playhead, the agent's terminal at the playhead (screens rendered ahead of time by cab-trace's
// own terminal emulator: this script only copies rows, it emulates nothing), the model calls and
// their conversations, the span table. No network, no libraries; every string from the run is
// put on the page as text (textContent), never as markup.
//
// The playhead follows replay/timeline.py (cab-trace replay): the same keys and the same steps.
"use strict";
(function () {
  const STEP_NS = 100e6;
  const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16];
  const IDLE_LIMIT_NS = 2e9;
  const ROW_H = 22;
  const TABLE_PAGE = 500;
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const head = JSON.parse($("cab-head").textContent);
  const spans = head.spans; // [name, kind, depth, parent, start, end, error, status, id]
  const S_NAME = 0, S_KIND = 1, S_DEPTH = 2, S_PARENT = 3, S_START = 4, S_END = 5, S_ERR = 6;
  const S_STATUS = 7, S_ID = 8;
  let spanDetails = null; // per span [attributes, events], from its compressed block
  const n = spans.length;
  const duration = Math.max(0, head.duration);

  // -- formatting ------------------------------------------------------------------------------

  function fmtDuration(ns) {
    const ms = ns / 1e6;
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 120000) return `${(ms / 1000).toFixed(2)} s`;
    return `${Math.floor(ms / 60000)} min ${((ms % 60000) / 1000).toFixed(0)} s`;
  }
  function fmtTime(ns) {
    const ms = ns / 1e6;
    if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(3)} s`;
  }
  const fmtInt = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US"));

  // -- the playhead (replay/timeline.py) ---------------------------------------------------------

  // Boundaries: every span's start and end, sorted by time; at one instant starts before ends,
  // then by the span's position in the tree, as the replay's packed keys sort them.
  const bOrder = new Int32Array(2 * n);
  for (let i = 0; i < 2 * n; i++) bOrder[i] = i;
  const bTimeOf = (o) => (o < n ? spans[o][S_START] : spans[o - n][S_END]);
  bOrder.sort((a, b) => bTimeOf(a) - bTimeOf(b) || a - b);
  const bTime = new Float64Array(2 * n);
  const startBoundary = new Int32Array(n);
  for (let k = 0; k < 2 * n; k++) {
    bTime[k] = bTimeOf(bOrder[k]);
    if (bOrder[k] < n) startBoundary[bOrder[k]] = k;
  }
  function lowerBound(arr, x, lo = 0, hi = arr.length) {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (arr[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  function upperBound(arr, x, lo = 0, hi = arr.length) {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (arr[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // Idle compression (asciinema's --idle-time-limit): replay time maps to trace time piecewise.
  let idleMap = null;
  function buildIdleMap(extra) {
    const pts = new Set([0, duration]);
    for (let k = 0; k < bTime.length; k++) if (bTime[k] >= 0 && bTime[k] <= duration) pts.add(bTime[k]);
    for (const t of extra) if (t >= 0 && t <= duration) pts.add(t);
    const trace = Array.from(pts).sort((a, b) => a - b);
    const replay = [0];
    for (let i = 1; i < trace.length; i++) replay.push(replay[i - 1] + Math.min(trace[i] - trace[i - 1], IDLE_LIMIT_NS));
    return { trace, replay };
  }
  function interpolate(xs, ys, x) {
    if (x <= xs[0]) return ys[0];
    if (x >= xs[xs.length - 1]) return ys[ys.length - 1];
    const i = upperBound(xs, x) - 1;
    const x0 = xs[i], x1 = xs[i + 1], y0 = ys[i], y1 = ys[i + 1];
    return x1 > x0 ? y0 + ((x - x0) * (y1 - y0)) / (x1 - x0) : y0;
  }

  const tl = {
    position: 0,
    cursor: n ? 0 : null, // the boundary the playhead sits on after a step; null after a seek or play
    selected: n ? bOrder[0] % n : 0,
    speedIndex: 2,
    playing: false,
    lastTick: null,
    idle: false,
    get speed() { return SPEEDS[this.speedIndex]; },
    get atEnd() { return this.position >= duration; },
    toReplay(t) { return this.idle && idleMap ? interpolate(idleMap.trace, idleMap.replay, t) : Math.min(Math.max(t, 0), duration); },
    toTrace(r) { return this.idle && idleMap ? interpolate(idleMap.replay, idleMap.trace, r) : Math.min(Math.max(r, 0), duration); },
    seek(t) {
      this.position = Math.min(Math.max(t, 0), duration);
      this.cursor = null;
      this.lastTick = this.playing ? performance.now() : null;
    },
    stepTime(steps) { this.seek(this.position + steps * STEP_NS); },
    stepBoundary(direction) {
      let target;
      if (this.cursor !== null) target = this.cursor + direction;
      else if (direction > 0) target = lowerBound(bTime, Math.floor(this.position) + 1);
      else target = lowerBound(bTime, Math.ceil(this.position)) - 1;
      if (target < 0 || target >= bTime.length) return false;
      this.position = bTime[target];
      this.cursor = target;
      this.selected = bOrder[target] % n;
      this.lastTick = this.playing ? performance.now() : null;
      return true;
    },
    seekSpan(i) {
      this.selected = i;
      this.position = spans[i][S_START];
      this.cursor = startBoundary[i];
    },
    play() {
      if (this.atEnd) this.position = 0;
      this.playing = true;
      this.cursor = null;
      this.lastTick = performance.now();
    },
    pause() { this.tick(); this.playing = false; this.lastTick = null; },
    toggle() { if (this.playing) this.pause(); else this.play(); },
    tick() {
      if (!this.playing || this.lastTick === null) return;
      const now = performance.now();
      const elapsed = (now - this.lastTick) * 1e6 * this.speed;
      this.lastTick = now;
      this.position = Math.min(this.toTrace(this.toReplay(this.position) + elapsed), duration);
      this.cursor = null;
      if (this.atEnd) { this.playing = false; this.lastTick = null; }
    },
    setSpeed(index) { this.tick(); this.speedIndex = Math.max(0, Math.min(SPEEDS.length - 1, index)); },
    state(i) {
      const t = this.position;
      if (t < spans[i][S_START]) return "pending";
      if (t < spans[i][S_END]) return "running";
      return "done";
    },
  };

  // -- the waterfall ---------------------------------------------------------------------------

  const wf = $("waterfall");
  const wfInner = $("waterfall-inner");
  wfInner.style.height = `${Math.max(1, n) * ROW_H}px`;
  const wfRows = new Map(); // position -> row element
  const playLine = el("div", "playline");
  wfInner.appendChild(playLine);
  const pct = (t) => (duration > 0 ? (100 * t) / duration : 0);

  function makeRow(i) {
    const s = spans[i];
    const row = el("div", "wrow");
    row.dataset.span = String(i);
    row.style.top = `${i * ROW_H}px`;
    const label = el("div", "wlabel");
    label.style.paddingLeft = `${4 + Math.min(s[S_DEPTH], 20) * 12}px`;
    label.appendChild(el("span", `kind k-${String(s[S_KIND]).replace(/[^a-z_]/gi, "")}`, s[S_KIND]));
    label.appendChild(el("span", "wname", s[S_NAME]));
    label.title = `${s[S_NAME]} · ${s[S_KIND]} · ${fmtDuration(s[S_END] - s[S_START])}`;
    const track = el("div", "wtrack");
    const bar = el("div", s[S_ERR] ? "wbar err" : "wbar");
    bar.style.left = `${pct(s[S_START])}%`;
    bar.style.width = `max(2px, ${pct(s[S_END] - s[S_START])}%)`;
    const done = el("div", "wdone");
    bar.appendChild(done);
    track.appendChild(bar);
    row.appendChild(label);
    row.appendChild(track);
    row.addEventListener("click", () => { tl.selected = i; redraw(); });
    return row;
  }
  function drawWaterfall() {
    const first = Math.max(0, Math.floor(wf.scrollTop / ROW_H) - 5);
    const last = Math.min(n, Math.ceil((wf.scrollTop + wf.clientHeight) / ROW_H) + 5);
    for (const [i, row] of wfRows) {
      if (i < first || i >= last) { row.remove(); wfRows.delete(i); }
    }
    for (let i = first; i < last; i++) {
      let row = wfRows.get(i);
      if (!row) { row = makeRow(i); wfRows.set(i, row); wfInner.appendChild(row); }
      const state = tl.state(i);
      const cls = `wrow ${state}${i === tl.selected ? " selected" : ""}${spans[i][S_ERR] ? " error" : ""}`;
      if (row.className !== cls) row.className = cls;
      const s = spans[i];
      const len = s[S_END] - s[S_START];
      const frac = len <= 0 ? (tl.position >= s[S_START] ? 1 : 0) : Math.min(1, Math.max(0, (tl.position - s[S_START]) / len));
      row.lastChild.firstChild.firstChild.style.width = `${(frac * 100).toFixed(2)}%`;
    }
    playLine.style.left = `calc(var(--label-w) + (100% - var(--label-w)) * ${pct(tl.position) / 100})`;
  }
  function keepSelectedInView() {
    const top = tl.selected * ROW_H;
    if (top < wf.scrollTop) wf.scrollTop = top;
    else if (top + ROW_H > wf.scrollTop + wf.clientHeight) wf.scrollTop = top + ROW_H - wf.clientHeight;
  }
  wf.addEventListener("scroll", () => drawWaterfall(), { passive: true });

  // -- the span detail ---------------------------------------------------------------------------

  const callBySpan = new Map();
  head.calls.forEach((c, k) => callBySpan.set(c.span, k));
  const stepBySpan = new Map();
  head.steps.forEach((s, k) => stepBySpan.set(s.span, k));

  function kvTable(obj) {
    const table = el("table", "kv small");
    for (const [k, v] of Object.entries(obj)) {
      const tr = el("tr");
      tr.appendChild(el("th", null, k));
      const td = el("td");
      td.appendChild(el("span", "val", v));
      tr.appendChild(td);
      table.appendChild(tr);
    }
    return table;
  }
  function drawDetail() {
    const box = $("detail");
    box.textContent = "";
    if (!n) return;
    const i = tl.selected;
    const s = spans[i];
    const title = el("div", "dtitle");
    title.appendChild(el("strong", null, s[S_NAME]));
    title.appendChild(el("span", "dim", `  ${s[S_KIND]}`));
    box.appendChild(title);
    box.appendChild(el("div", "dim", `start +${fmtTime(s[S_START])} · duration ${fmtDuration(s[S_END] - s[S_START])} · span ${s[S_ID]}`));
    const status = el("div", s[S_ERR] ? "err" : null, s[S_ERR] ? `status ERROR${s[S_STATUS] ? ": " + s[S_STATUS] : ""}` : `status ${s[S_STATUS]}`);
    box.appendChild(status);
    const k = callBySpan.get(i);
    if (k !== undefined) {
      const button = el("button", "link", `model call #${head.calls[k].n}: open its conversation`);
      button.type = "button";
      button.addEventListener("click", () => openCall(k, true));
      box.appendChild(button);
    }
    const st = stepBySpan.get(i);
    if (st !== undefined && content) {
      const step = content.steps[st];
      if (step) box.appendChild(drawStep(step));
    }
    if (!spanDetails) { box.appendChild(el("p", "dim", "loading the attributes…")); return; }
    const [spanAttrs, spanEvents] = spanDetails[i];
    if (Object.keys(spanAttrs).length) box.appendChild(kvTable(spanAttrs));
    for (const [t, name, attrs] of spanEvents) {
      box.appendChild(el("div", "event", `event +${fmtTime(t)} ${name}`));
      if (Object.keys(attrs).length) box.appendChild(kvTable(attrs));
    }
  }

  // -- the terminal ----------------------------------------------------------------------------

  let term = null; // the unpacked frames
  const termBox = $("terminal");
  const termRows = [];
  let termShown = -1; // the frame on screen
  let termState = null; // rows of the frame termShown
  let termCursor = null;
  const NAMED = {
    black: "var(--t-black)", red: "var(--t-red)", green: "var(--t-green)", brown: "var(--t-yellow)",
    blue: "var(--t-blue)", magenta: "var(--t-magenta)", cyan: "var(--t-cyan)", white: "var(--t-white)",
    brightblack: "var(--t-bblack)", brightred: "var(--t-bred)", brightgreen: "var(--t-bgreen)",
    brightbrown: "var(--t-byellow)", brightblue: "var(--t-bblue)", brightmagenta: "var(--t-bmagenta)",
    bfightmagenta: "var(--t-bmagenta)", brightcyan: "var(--t-bcyan)", brightwhite: "var(--t-bwhite)",
  };
  const colour = (name) => (name === "default" ? null : NAMED[name] || (/^[0-9a-f]{6}$/i.test(name) ? `#${name}` : null));
  let styleFns = [];
  function buildStyles() {
    styleFns = term.styles.map(([fg, bg, flags]) => {
      let f = colour(fg), b = colour(bg);
      if (flags & 16) { const x = f || "var(--t-fg)"; f = b || "var(--t-bg)"; b = x; }
      const deco = [flags & 4 ? "underline" : "", flags & 8 ? "line-through" : ""].filter(Boolean).join(" ");
      return (span) => {
        if (f) span.style.color = f;
        if (b) span.style.backgroundColor = b;
        if (flags & 1) span.style.fontWeight = "bold";
        if (flags & 2) span.style.fontStyle = "italic";
        if (deco) span.style.textDecoration = deco;
      };
    });
  }
  function setupTerminal() {
    termBox.textContent = "";
    termRows.length = 0;
    termBox.style.setProperty("--cols", String(term.w));
    termCursor = el("div", "tcursor");
    termBox.appendChild(termCursor);
    $("terminal-title").textContent = `terminal ${term.w}×${term.h}`;
  }
  function ensureRows(h) {
    while (termRows.length < h) {
      const row = el("div", "row");
      row._value = "";
      termRows.push(row);
      termBox.appendChild(row);
    }
    while (termRows.length > h) termRows.pop().remove();
  }
  function drawRow(row, value) {
    if (row._value === value) return;
    row._value = value;
    row.textContent = "";
    if (typeof value === "string") { row.textContent = value; return; }
    const [text, runs] = value;
    let at = 0;
    for (let r = 0; r < runs.length; r += 2) {
      const piece = text.slice(at, at + runs[r + 1]);
      at += runs[r + 1];
      if (runs[r] === 0) row.appendChild(document.createTextNode(piece));
      else { const span = el("span", null, piece); styleFns[runs[r]](span); row.appendChild(span); }
    }
    if (at < text.length) row.appendChild(document.createTextNode(text.slice(at)));
  }
  let termTimes = null;
  let keyFrames = null; // frame indexes that have a keyframe
  function frameAt(t) {
    return Math.max(0, upperBound(termTimes, t) - 1);
  }
  function loadKey(k) {
    const [f, w, h, rows] = term.keys[k];
    const state = { w, h, rows: new Array(h).fill("") };
    if (rows === null) applyRows(state, term.frames[f]);
    else for (let y = 0; y < rows.length && y < h; y++) state.rows[y] = rows[y];
    return state;
  }
  function applyRows(state, frame) {
    for (let j = 4; j < frame.length; j += 2) if (frame[j] < state.h) state.rows[frame[j]] = frame[j + 1];
  }
  function apply(state, f) {
    const frame = term.frames[f];
    if (frame[3] === -1) return loadKey(upperBound(keyFrames, f) - 1);
    if (frame[3] > 0) {
      const s = frame[3];
      state.rows = state.rows.slice(s).concat(new Array(Math.min(s, state.h)).fill(""));
    }
    applyRows(state, frame);
    return state;
  }
  function drawTerminal() {
    if (!term) return;
    const target = frameAt(tl.position);
    if (target !== termShown) {
      const k = upperBound(keyFrames, target) - 1;
      let from = keyFrames[k];
      let state;
      if (termState && termShown >= from && termShown < target) {
        state = termState;
        from = termShown;
      } else {
        state = loadKey(k);
      }
      for (let f = from + 1; f <= target; f++) state = apply(state, f);
      termState = state;
      termShown = target;
      ensureRows(state.h);
      for (let y = 0; y < state.h; y++) drawRow(termRows[y], state.rows[y]);
      const frame = term.frames[target];
      const [x, y] = [frame[1], frame[2]];
      termCursor.hidden = y < 0;
      termCursor.style.left = `${x}ch`;
      termCursor.style.top = `calc(${Math.max(0, y)} * var(--t-line))`;
      termBox.dataset.frame = String(target);
    }
    let note = "";
    for (const [t, text] of term.notes) if (t <= tl.position) note = text;
    $("terminal-note").textContent = note;
  }

  // -- the model calls ---------------------------------------------------------------------------

  let content = null;
  const ROLE_CLASS = { system: "r-system", developer: "r-system", user: "r-user", assistant: "r-assistant", tool: "r-tool" };
  // Tool arguments as indented JSON when they are JSON (recorded text keeps quotes as \u0022).
  function argsText(v) {
    if (typeof v === "string") {
      try { v = JSON.parse(v); } catch (err) { return v; }
      if (typeof v === "string") return v;
    }
    return JSON.stringify(v, null, 2);
  }
  function drawMessage(message, finish) {
    const box = el("div", "msg");
    const role = message && typeof message === "object" ? String(message.role || "?") : "?";
    const title = el("div", `role ${ROLE_CLASS[role] || ""}`, role);
    const reason = finish || (message && message.finish_reason);
    if (reason) title.appendChild(el("span", "dim", `  (finish: ${reason})`));
    box.appendChild(title);
    const parts = message && Array.isArray(message.parts) ? message.parts : [];
    for (const part of parts) {
      if (!part || typeof part !== "object") continue;
      const kind = part.type;
      if (kind === "text") box.appendChild(el("div", "text", part.content));
      else if (kind === "reasoning") box.appendChild(el("div", "text thinking", `(thinking) ${part.content ?? ""}`));
      else if (kind === "tool_call") {
        const line = el("div", "toolcall");
        line.appendChild(el("span", "arrow", "→ "));
        line.appendChild(el("span", "tname", part.name));
        line.appendChild(el("span", "dim", `  [${part.id ?? ""}]`));
        line.appendChild(el("pre", "args", argsText(part.arguments)));
        box.appendChild(line);
      } else if (kind === "tool_call_response") {
        const line = el("div", "toolresult");
        line.appendChild(el("span", "arrow", "← "));
        line.appendChild(el("span", "dim", `[${part.id ?? ""}]`));
        line.appendChild(el("pre", "result", part.result ?? ""));
        box.appendChild(line);
      } else box.appendChild(el("pre", "other", `(${kind}) ${JSON.stringify(part)}`));
    }
    return box;
  }
  function drawStep(step) {
    const box = el("div", step.error ? "step err" : "step");
    const title = el("div", "steptitle");
    title.appendChild(el("strong", null, `tool step ${step.name}`));
    if (step.id) title.appendChild(el("span", "dim", ` [${step.id}]`));
    if (step.returned === false) title.appendChild(el("span", "badge err", "result never returned"));
    box.appendChild(title);
    if (step.arguments !== undefined) { box.appendChild(el("div", "dim", "arguments")); box.appendChild(el("pre", "args", argsText(step.arguments))); }
    if (step.result !== undefined) { box.appendChild(el("div", "dim", "result")); box.appendChild(el("pre", "result", step.result)); }
    return box;
  }
  function details(summary, fill) {
    const d = el("details", "more");
    d.appendChild(el("summary", null, summary));
    let filled = false;
    d.addEventListener("toggle", () => { if (d.open && !filled) { filled = true; fill(d); } });
    return d;
  }
  function drawConversation(k) {
    const c = head.calls[k];
    const box = el("div", "conv");
    const facts = [];
    if (c.model) facts.push(c.model);
    if (c.in !== null || c.out !== null) facts.push(`tokens ${fmtInt(c.in)} in / ${fmtInt(c.out)} out`);
    else if (c.usage === false) facts.push("tokens: not reported by the provider");
    if (typeof c.ttfc === "number") facts.push(`first chunk after ${Math.round(c.ttfc * 1000)} ms`);
    if (c.http !== null && c.http !== undefined) facts.push(`HTTP ${c.http}`);
    if (c.stream) facts.push("streamed");
    facts.push(`request ${c.hash}`);
    box.appendChild(el("div", "facts", facts.join(" · ")));
    if (c.error) box.appendChild(el("div", "err", `error (${c.outcome}): ${c.message}`));
    if (c.retry_of !== null) box.appendChild(el("div", "retry", `a retry: the same request as call #${c.retry_of}`));
    if (!head.content) {
      box.appendChild(el("p", "dim", "Conversation not on this page (--no-content)."));
      return box;
    }
    if (!content) {
      box.appendChild(el("p", "dim", "loading the conversation…"));
      return box;
    }
    const conv = content.calls[k];
    if (conv.state === "omitted") box.appendChild(el("p", "dim", "The run recorded this call without its content (--no-content)."));
    else if (conv.state === "truncated") box.appendChild(el("p", "dim", "Parts of this conversation were over the recording's limits and are shortened (marked where)."));
    const msg = (id) => content.messages[id];
    const fresh = conv.in.slice(conv.earlier);
    box.appendChild(el("h4", null, `new this turn (${fresh.length} message${fresh.length === 1 ? "" : "s"})`));
    if (!fresh.length) box.appendChild(el("p", "dim", "nothing new: the same messages as before"));
    for (const id of fresh) box.appendChild(drawMessage(msg(id)));
    box.appendChild(el("h4", null, "answer"));
    if (!conv.out.length) box.appendChild(el("p", "dim", c.error ? "no answer (the call failed)" : "no answer recorded"));
    for (const id of conv.out) box.appendChild(drawMessage(msg(id)));
    const steps = content.steps.filter((s) => s.asked_by === c.index);
    if (steps.length) {
      box.appendChild(el("h4", null, `tool steps it asked for (${steps.length})`));
      for (const s of steps) box.appendChild(drawStep(s));
    }
    if (conv.earlier) {
      const label = `earlier messages (${conv.earlier})` + (conv.continues ? ` · continues call #${conv.continues}` : "");
      box.appendChild(details(label, (d) => { for (const id of conv.in.slice(0, conv.earlier)) d.appendChild(drawMessage(msg(id))); }));
    }
    if (conv.system !== undefined) {
      box.appendChild(details("system instructions", (d) => d.appendChild(drawMessage(msg(conv.system)))));
    }
    if (conv.tools) {
      box.appendChild(details(`tools offered (${conv.tools.length}): ${conv.tools.join(", ")}`, (d) => {
        d.appendChild(el("pre", "args", JSON.stringify(msg(conv.tooldefs).parts, null, 2)));
      }));
    }
    for (const [key, text] of Object.entries(conv.raw || {})) {
      box.appendChild(details(`${key} (not JSON, as recorded)`, (d) => d.appendChild(el("pre", "other", text))));
    }
    return box;
  }
  const callRows = Array.from(document.querySelectorAll("#calls-table tbody tr[data-call]"));
  const openCalls = new Map(); // call -> its expanded row
  function openCall(k, scroll) {
    const row = callRows[k];
    if (!row) return;
    let open = openCalls.get(k);
    if (!open) {
      open = el("tr", "conv-row");
      const td = el("td");
      td.colSpan = 7;
      td.appendChild(drawConversation(k));
      open.appendChild(td);
      row.after(open);
      openCalls.set(k, open);
      row.querySelector("button.expand").setAttribute("aria-expanded", "true");
      row.querySelector("button.expand").textContent = "▾";
    }
    if (scroll) row.scrollIntoView({ block: "start" });
  }
  function closeCall(k) {
    const open = openCalls.get(k);
    if (!open) return;
    open.remove();
    openCalls.delete(k);
    const b = callRows[k].querySelector("button.expand");
    b.setAttribute("aria-expanded", "false");
    b.textContent = "▸";
  }
  callRows.forEach((row, k) => {
    row.querySelector("button.expand").addEventListener("click", (ev) => {
      ev.stopPropagation();
      if (openCalls.has(k)) closeCall(k); else openCall(k, false);
    });
    row.addEventListener("click", () => { tl.seekSpan(head.calls[k].span); keepSelectedInView(); redraw(); });
  });
  function refreshOpenCalls() {
    for (const [k, open] of openCalls) {
      const td = open.firstChild;
      td.textContent = "";
      td.appendChild(drawConversation(k));
    }
  }

  // -- the span table ----------------------------------------------------------------------------

  function drawSpanTable() {
    const box = $("span-table");
    const table = el("table", "grid spans");
    const headRow = el("tr");
    for (const h of ["span", "parent", "kind", "name", "start", "duration", "status", "attributes"]) headRow.appendChild(el("th", null, h));
    const thead = el("thead");
    thead.appendChild(headRow);
    table.appendChild(thead);
    const body = el("tbody");
    table.appendChild(body);
    box.appendChild(table);
    let shown = 0;
    const more = el("button", "link");
    more.type = "button";
    function page() {
      const until = Math.min(n, shown + TABLE_PAGE);
      const frag = document.createDocumentFragment();
      for (let i = shown; i < until; i++) {
        const s = spans[i];
        const tr = el("tr", s[S_ERR] ? "error" : null);
        tr.appendChild(el("td", "mono", s[S_ID]));
        tr.appendChild(el("td", "mono", s[S_PARENT] === null ? "–" : spans[s[S_PARENT]][S_ID].slice(0, 8) + "…"));
        tr.appendChild(el("td", null, s[S_KIND]));
        const name = el("td", "name", s[S_NAME]);
        name.style.paddingLeft = `${4 + Math.min(s[S_DEPTH], 20) * 10}px`;
        tr.appendChild(name);
        tr.appendChild(el("td", "num", fmtTime(s[S_START])));
        tr.appendChild(el("td", "num", fmtDuration(s[S_END] - s[S_START])));
        tr.appendChild(el("td", s[S_ERR] ? "err" : null, s[S_ERR] ? `ERROR ${s[S_STATUS]}` : s[S_STATUS]));
        const attrs = el("td");
        const spanAttrs = spanDetails[i][0];
        const keys = Object.keys(spanAttrs);
        if (keys.length) attrs.appendChild(details(`${keys.length} attribute${keys.length === 1 ? "" : "s"}`, (d) => d.appendChild(kvTable(spanAttrs))));
        tr.appendChild(attrs);
        tr.addEventListener("click", (ev) => { if (ev.target.closest("details")) return; tl.selected = i; keepSelectedInView(); redraw(); });
        frag.appendChild(tr);
      }
      body.appendChild(frag);
      shown = until;
      more.textContent = `show ${Math.min(TABLE_PAGE, n - shown).toLocaleString("en-US")} more of ${(n - shown).toLocaleString("en-US")}`;
      more.hidden = shown >= n;
    }
    more.addEventListener("click", page);
    box.appendChild(more);
    page();
  }

  // -- drawing -----------------------------------------------------------------------------------

  const clock = $("clock");
  const scrubber = $("scrubber");
  const speedSelect = $("speed");
  const playButton = $("play");
  let shownSelected = -1;
  function drawNow() {
    const t = tl.position;
    let done = 0, tin = 0, tout = 0, running = [];
    head.calls.forEach((c, k) => {
      if (c.end <= t) { done++; tin += c.in || 0; tout += c.out || 0; }
      const active = c.start <= t && t < c.end;
      const row = callRows[k];
      if (row && row.classList.contains("now") !== active) row.classList.toggle("now", active);
      if (active) running.push(`#${c.n}`);
    });
    const parts = [];
    if (head.calls.length) parts.push(`tokens so far ${tin.toLocaleString("en-US")} in / ${tout.toLocaleString("en-US")} out · ${done}/${head.calls.length} model calls`);
    if (running.length) parts.push(`calling the model: ${running.join(", ")}`);
    $("now").textContent = parts.join(" · ");
  }
  function redraw() {
    clock.textContent = `t = ${fmtTime(tl.position)} / ${fmtDuration(duration)}`;
    clock.dataset.tNs = String(Math.round(tl.position));
    clock.dataset.cursor = tl.cursor === null ? "" : String(tl.cursor);
    clock.dataset.selected = String(tl.selected);
    clock.dataset.speed = String(tl.speed);
    clock.dataset.playing = tl.playing ? "1" : "0";
    if (document.activeElement !== scrubber) scrubber.value = String(duration > 0 ? Math.round((tl.position / duration) * 1e6) : 0);
    if (Number(speedSelect.value) !== tl.speed) speedSelect.value = String(tl.speed);
    playButton.textContent = tl.playing ? "⏸" : "▶";
    playButton.setAttribute("aria-label", tl.playing ? "pause" : "play");
    drawWaterfall();
    if (shownSelected !== tl.selected) { shownSelected = tl.selected; drawDetail(); }
    drawTerminal();
    drawNow();
  }
  function frame() {
    tl.tick();
    redraw();
    if (tl.playing) requestAnimationFrame(frame);
  }
  function start() { tl.toggle(); redraw(); if (tl.playing) requestAnimationFrame(frame); }

  // -- input -------------------------------------------------------------------------------------

  const jump = (list, direction) => {
    if (!list.length) return null;
    const at = tl.selected;
    if (direction > 0) return list.find((i) => i > at) ?? list[0];
    return [...list].reverse().find((i) => i < at) ?? list[list.length - 1];
  };
  const callSpans = head.calls.map((c) => c.span).sort((a, b) => a - b);
  const KEYS = {
    " ": () => start(),
    ArrowRight: () => tl.stepBoundary(1),
    ArrowLeft: () => tl.stepBoundary(-1),
    ".": () => tl.stepTime(1),
    ",": () => tl.stepTime(-1),
    "+": () => tl.setSpeed(tl.speedIndex + 1),
    "=": () => tl.setSpeed(tl.speedIndex + 1),
    "-": () => tl.setSpeed(tl.speedIndex - 1),
    Home: () => tl.seek(0),
    g: () => tl.seek(0),
    End: () => tl.seek(duration),
    G: () => tl.seek(duration),
    ArrowUp: () => { tl.selected = Math.max(0, tl.selected - 1); },
    k: () => { tl.selected = Math.max(0, tl.selected - 1); },
    ArrowDown: () => { tl.selected = Math.min(n - 1, tl.selected + 1); },
    j: () => { tl.selected = Math.min(n - 1, tl.selected + 1); },
    Enter: () => tl.seekSpan(tl.selected),
    m: () => { const i = jump(callSpans, 1); if (i !== null) tl.seekSpan(i); },
    M: () => { const i = jump(callSpans, -1); if (i !== null) tl.seekSpan(i); },
    e: () => { const i = jump(head.errors, 1); if (i !== null) tl.seekSpan(i); },
    E: () => { const i = jump(head.errors, -1); if (i !== null) tl.seekSpan(i); },
    i: () => { tl.tick(); tl.idle = !tl.idle; $("idle").checked = tl.idle; },
    "?": () => { $("help").hidden = !$("help").hidden; },
    Escape: () => { $("help").hidden = true; },
  };
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !n) return;
    const target = ev.target;
    const tag = target && target.tagName;
    if (tag === "TEXTAREA" || (tag === "INPUT" && target.type !== "range" && target.type !== "checkbox") || tag === "SELECT") return;
    if (ev.key === "Enter" && tag === "BUTTON") return; // the button's own action
    if (ev.key === " " && (tag === "SUMMARY")) return;
    const action = KEYS[ev.key];
    if (!action) return;
    ev.preventDefault();
    if (ev.key === " ") { start(); return; }
    action();
    if (/^(Arrow|Enter|m|M|e|E|j|k)/.test(ev.key)) keepSelectedInView();
    redraw();
  });
  playButton.addEventListener("click", (ev) => { start(); ev.currentTarget.blur(); });
  $("prev-span").addEventListener("click", (ev) => { tl.stepBoundary(-1); keepSelectedInView(); redraw(); ev.currentTarget.blur(); });
  $("next-span").addEventListener("click", (ev) => { tl.stepBoundary(1); keepSelectedInView(); redraw(); ev.currentTarget.blur(); });
  scrubber.addEventListener("input", () => { tl.seek((Number(scrubber.value) / 1e6) * duration); redraw(); });
  speedSelect.addEventListener("change", () => { tl.setSpeed(SPEEDS.indexOf(Number(speedSelect.value))); redraw(); speedSelect.blur(); });
  $("idle").addEventListener("change", (ev) => { tl.tick(); tl.idle = ev.currentTarget.checked; redraw(); });

  // -- data blocks ---------------------------------------------------------------------------------

  async function unpack(id) {
    const block = $(id);
    if (!block) return null;
    const binary = atob(block.textContent.replace(/\s+/g, ""));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }
  async function load() {
    // After the first paint: decoding the blocks is work the page need not wait for.
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    const [frames, conv, detailsOf] = await Promise.all([unpack("cab-terminal"), unpack("cab-content"), unpack("cab-spans")]);
    spanDetails = detailsOf;
    drawSpanTable();
    if (frames) {
      term = frames;
      termTimes = new Float64Array(term.frames.length);
      term.frames.forEach((f, i) => { termTimes[i] = f[0] === null ? -Infinity : f[0]; });
      keyFrames = Int32Array.from(term.keys.map((k) => k[0]));
      buildStyles();
      setupTerminal();
      idleMap = buildIdleMap(Array.from(termTimes).filter(Number.isFinite));
    } else {
      $("terminal-title").textContent = "terminal";
      $("terminal-note").textContent = "";
      termBox.appendChild(el("p", "dim", "No terminal recording for this run (no terminal.cast in the run directory)."));
      termBox.classList.add("empty");
    }
    content = conv;
    refreshOpenCalls();
    shownSelected = -1;
    redraw();
  }

  // -- start -----------------------------------------------------------------------------------------

  if (!n) {
    $("replay").appendChild(el("p", "dim", "This trace has no spans."));
  }
  idleMap = buildIdleMap([]);
  $("terminal-note").textContent = $("cab-terminal") ? "loading…" : "";
  redraw();
  window.cabPage = {
    readyAt: null, // ms since the page began to load, when the terminal and conversations were open
    ready: load().then(() => { window.cabPage.readyAt = performance.now(); document.body.dataset.ready = "1"; }, (err) => {
      document.body.dataset.ready = "error";
      $("terminal-note").textContent = `could not open the page's data: ${err}`;
      throw err;
    }),
    timeline: tl,
    duration,
    seek: (t) => { tl.seek(t); redraw(); return tl.position; },
    terminalText: () => termRows.map((r) => r.textContent),
  };
})();
