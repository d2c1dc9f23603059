"""The HTML page of the campaign report (:mod:`matterloop.agent.campaign.report` fills it in).

Inline CSS with the system's fonts and an inline script that sorts a ``table.sortable`` by the
``data-sort`` values of a column when its header is clicked (numbers numerically, text by
code point, empty cells last); nothing is fetched from the network.
"""

from __future__ import annotations

from string import Template

PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
  :root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --soft: #f5f7fa; --accent: #c0392b; }
  * { box-sizing: border-box; }
  body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
         font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
  main { max-width: 1240px; margin: 0 auto; padding: 28px 32px 48px; }
  header { border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 20px; }
  h1 { font-size: 26px; margin: 0 0 4px; }
  h1 .kind { color: var(--muted); font-weight: 400; }
  h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px;
       border-bottom: 1px solid var(--line); }
  .meta { color: var(--muted); margin: 2px 0; }
  .facts { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0 4px; }
  .fact { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
          padding: 8px 16px; min-width: 118px; }
  .fact .value { display: block; font-size: 22px; font-weight: 600; }
  .fact .label { color: var(--muted); font-size: 13px; }
  .plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr));
           gap: 20px; }
  figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 10px; }
  figure img { width: 100%; height: auto; display: block; }
  figcaption { color: var(--muted); font-size: 13px; margin-top: 6px; }
  .scroll { overflow-x: auto; }
  table { border-collapse: collapse; width: 100%; font-size: 14px; }
  th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left;
           vertical-align: middle; }
  th { background: var(--soft); font-weight: 600; vertical-align: bottom; white-space: nowrap; }
  th .unit { display: block; font-weight: 400; color: var(--muted); font-size: 12px; }
  th[data-sortable] { cursor: pointer; user-select: none; }
  th[data-sortable] .label::after { content: "\\A0\\21C5"; color: #9aa5b1; }
  th[aria-sort="ascending"] .label::after { content: "\\A0\\25B2"; color: var(--accent); }
  th[aria-sort="descending"] .label::after { content: "\\A0\\25BC"; color: var(--accent); }
  td { white-space: nowrap; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  tbody tr:hover { background: #fbfcfd; }
  td.picture img { width: 104px; height: 104px; object-fit: contain; display: block; }
  .legend { font-size: 12px; color: var(--muted); max-width: 120px; white-space: normal; }
  td.picture a { font-size: 13px; }
  .element { margin-right: 6px; white-space: nowrap; }
  .dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 2px;
         border: 1px solid #52606d; }
  .note { color: var(--muted); font-size: 13px; margin-top: 8px; }
  pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
        padding: 12px 16px; overflow-x: auto; font-size: 13px;
        font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
  a { color: #1f5f99; }
</style>
</head>
<body>
<main>
<header>
  <h1><span class="kind">campaign</span> $name</h1>
  <p class="meta">Objectives: $objectives</p>
  <p class="meta">Constraints: $constraints &middot; oracle: $oracle</p>
  <p class="meta">Report of $generated</p>
  <div class="facts">$facts</div>
</header>

<section>
  <h2>Pareto front and hypervolume</h2>
  <div class="plots">
    <figure>
      <img src="$pareto_png" alt="Pareto front after each round">
      <figcaption>Every labeled structure (feasible filled, infeasible hollow) and the Pareto
      front after each round; earlier fronts are faded.</figcaption>
    </figure>
    <figure>
      <img src="$hypervolume_png" alt="Hypervolume against oracle calls">
      <figcaption>Hypervolume [$hypervolume_unit] after each oracle call, recomputed from the
      labels; dots mark the value recorded at the end of each round.</figcaption>
    </figure>
  </div>
</section>

<section>
  <h2>Front members ($front_count)</h2>
  <div class="scroll">
  <table class="sortable" id="front">
    <thead><tr>$front_head</tr></thead>
    <tbody>
$front_rows
    </tbody>
  </table>
  </div>
  <p class="note">$front_note Click a header to sort.</p>
</section>
$confirmation
<section>
  <h2>Rounds</h2>
  <div class="scroll">
  <table id="rounds">
    <thead><tr>$rounds_head</tr></thead>
    <tbody>
$rounds_rows
    </tbody>
  </table>
  </div>
</section>

<section>
  <h2>Configuration</h2>
  <pre>$config</pre>
</section>
</main>
<script>
(function () {
  function compare(a, b) {
    const x = Number(a), y = Number(b);
    if (!isNaN(x) && !isNaN(y)) return x - y;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    const headers = Array.from(table.tHead.rows[0].cells);
    headers.forEach(function (th, column) {
      if (!th.dataset.sortable) return;
      th.addEventListener("click", function () {
        const sign = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        headers.forEach(function (h) {
          if (h.dataset.sortable) h.setAttribute("aria-sort", "none");
        });
        th.setAttribute("aria-sort", sign > 0 ? "ascending" : "descending");
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort(function (r, s) {
          const a = r.cells[column].dataset.sort, b = s.cells[column].dataset.sort;
          if (a === "" || b === "") return (a === "") - (b === "");
          return sign * compare(a, b);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
</script>
</body>
</html>
"""
)
