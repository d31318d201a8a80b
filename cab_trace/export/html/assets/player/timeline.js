// The playhead: replay/timeline.py's steps, seeks, playback and idle compression.
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

