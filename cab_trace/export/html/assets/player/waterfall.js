// The waterfall (only the rows in view are drawn) and the selected span's detail.
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

