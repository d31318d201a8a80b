// The agent's terminal: shows the screens rendered when the page was made (frames.py), from
// the keyframe before a moment and the changes after it. It emulates nothing.
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

