// The span table, 500 rows at a time.
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

