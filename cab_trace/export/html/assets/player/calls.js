// The Model calls table: each call opens to its conversation (new messages of the turn first).
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
  // An answer says how it ended: its finish reason, or `end` (the page's words for a call whose
  // API gave none: the Responses API's status when it was recorded).
  function drawMessage(message, end) {
    const box = el("div", "msg");
    const role = message && typeof message === "object" ? String(message.role || "?") : "?";
    const title = el("div", `role ${ROLE_CLASS[role] || ""}`, role);
    const reason = message && message.finish_reason;
    if (reason) title.appendChild(el("span", "dim", `  (finish: ${reason})`));
    else if (end) title.appendChild(el("span", "dim", `  (${end})`));
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
        // Under the conventions' name whatever version recorded it (the page is made so).
        const output = part.response ?? "";
        line.appendChild(el("pre", "result", typeof output === "string" ? output : JSON.stringify(output)));
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
  function textLength(message) {
    let n = 0;
    for (const part of (message && Array.isArray(message.parts) ? message.parts : [])) {
      if (part && typeof part.content === "string") n += part.content.length;
    }
    return n;
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
    else if (conv.state === "missing") box.appendChild(el("p", "dim", "The trace holds no conversation for this call."));
    else if (conv.state === "truncated") box.appendChild(el("p", "dim", "Parts of this conversation were over the recording's limits and are shortened (marked where)."));
    const msg = (id) => content.messages[id];
    const fresh = conv.in.slice(conv.earlier);
    box.appendChild(el("h4", null, `new this turn (${fresh.length} message${fresh.length === 1 ? "" : "s"})`));
    if (!fresh.length) {
      const held = conv.continues ? `call #${conv.continues}'s conversation already held every message` : "no messages";
      box.appendChild(el("p", "dim", `nothing new: ${held}`));
    }
    for (const id of fresh) box.appendChild(drawMessage(msg(id)));
    box.appendChild(el("h4", null, "answer"));
    if (!conv.out.length) box.appendChild(el("p", "dim", c.error ? "no answer (the call failed)" : "no answer recorded"));
    for (const id of conv.out) box.appendChild(drawMessage(msg(id), conv.end));
    const steps = content.steps.filter((s) => s.asked_by === c.index);
    if (steps.length) {
      box.appendChild(el("h4", null, `tool steps it asked for (${steps.length})`));
      for (const s of steps) box.appendChild(drawStep(s));
    }
    if (conv.earlier) {
      const label = `earlier messages (${conv.earlier})` + (conv.continues ? ` · continues call #${conv.continues}` : "");
      box.appendChild(details(label, (d) => { for (const id of conv.in.slice(0, conv.earlier)) d.appendChild(drawMessage(msg(id))); }));
    }
    if (conv.sys.length) {
      const chars = conv.sys.reduce((n, id) => n + textLength(msg(id)), 0);
      let label = `system prompt (${fmtInt(chars)} characters)`;
      if (conv.continues) label += conv.sys_changed ? ` · changed since call #${conv.continues}` : " · as before";
      box.appendChild(details(label, (d) => { for (const id of conv.sys) d.appendChild(drawMessage(msg(id))); }));
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

