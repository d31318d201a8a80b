// Drawing after every change, the keys, the compressed data blocks, and the start.
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
