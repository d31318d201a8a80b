// cab-trace cell page player. Shows what the page's data blocks hold: the spans on a waterfall with
// a playhead, the agent's terminal at the playhead (screens rendered ahead of time by cab-trace's
// own terminal emulator: this script only copies rows, it emulates nothing), the model calls and
// their conversations, the span table. No network, no libraries; every string from the run is
// put on the page as text (textContent), never as markup.
//
// The playhead follows replay/timeline.py (cab-trace replay): the same keys and the same steps.
//
// These parts share one scope: render.py wraps them, in order, in one strict function.
//
// This part: constants, helpers, the page's small data.
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

