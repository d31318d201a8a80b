// cab-trace sweep index: sort the table by a column (click or enter on its heading), filter rows.
"use strict";
(function () {
  const table = document.getElementById("cells");
  const body = table.tBodies[0];
  const heads = Array.from(table.tHead.rows[0].cells);
  function sortBy(col) {
    const th = heads[col];
    const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    heads.forEach((h) => h.setAttribute("aria-sort", "none"));
    th.setAttribute("aria-sort", dir);
    const numeric = th.dataset.type === "num";
    const key = (row) => row.cells[col].dataset.sort;
    const rows = Array.from(body.rows);
    // Ties keep the index's own order (each cell's repeats together), whichever way and
    // whatever was clicked before: the same click always gives the same table.
    const order = (row) => Number(row.dataset.order);
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      // Unknown (empty) sorts last whichever way.
      if (x === "" || y === "") return (x === "") - (y === "") || order(a) - order(b);
      const c = numeric ? Number(x) - Number(y) : x.localeCompare(y, "en", { numeric: true });
      return (dir === "ascending" ? c : -c) || order(a) - order(b);
    });
    for (const row of rows) body.appendChild(row);
  }
  heads.forEach((th, col) => {
    th.addEventListener("click", () => sortBy(col));
    th.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortBy(col); } });
  });
  const filter = document.getElementById("filter");
  filter.addEventListener("input", () => {
    const needle = filter.value.trim().toLowerCase();
    for (const row of body.rows) row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
  });
})();
