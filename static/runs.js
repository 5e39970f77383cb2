// Runs list: the rows of queued and processing runs follow their run's JSON (every 2 s) with
// no reload; a row stops being polled once its run is final. Labels and final statuses come
// from the page (#page-labels): the script keeps no copy.
(function () {
  "use strict";
  const table = document.getElementById("runs-table");
  if (!table) { return; }
  const labels = JSON.parse(document.getElementById("page-labels").textContent);
  const FINAL = labels.final;
  const format = window.ValidateurFormat;

  function openRows() {
    return Array.prototype.filter.call(table.querySelectorAll("tbody tr[data-run-id]"),
      function (row) {
        return FINAL.indexOf(row.dataset.status) < 0 && row.dataset.gone !== "yes";
      });
  }

  function cell(row, name, value) {
    const element = row.querySelector('[data-cell="' + name + '"]');
    if (element && element.textContent !== value) { element.textContent = value; }
  }

  function progressText(run) {
    if (run.status === "completed") { return format.percent(100); }
    if (FINAL.indexOf(run.status) >= 0) { return "—"; }
    return format.percent(run.progress);
  }

  function redraw(row, run) {
    row.dataset.status = run.status;
    const status = row.querySelector('[data-cell="status"]');
    status.className = "status " + run.status;
    cell(row, "status", labels.status[run.status] || run.status);
    cell(row, "progress", progressText(run));
    cell(row, "rows", format.integer(run.totalRows || run.processedRows));
    cell(row, "error", format.integer(run.counts.error));
    cell(row, "warning", format.integer(run.counts.warning));
    cell(row, "optimization", format.integer(run.counts.optimization));
    cell(row, "gain", format.money(run.potentialGain));
    const place = row.querySelector('[data-cell="place"]');
    const position = run.status === "queued" ? run.queuePosition : null;
    if (place && place.dataset.position !== String(position)) {
      format.queuePlace(place, position);
      place.dataset.position = String(position);
    }
  }

  function refresh(row) {
    return fetch(row.dataset.url, { headers: { Accept: "application/json" },
                                    credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 404) { row.dataset.gone = "yes"; }  // deleted meanwhile
        return response.ok ? response.json() : null;
      })
      .then(function (run) { if (run) { redraw(row, run); } })
      .catch(function () { return null; });
  }

  function poll() {
    const rows = openRows();
    if (!rows.length) { return; }
    Promise.all(rows.map(refresh)).then(function () { window.setTimeout(poll, 2000); });
  }
  if (openRows().length) { window.setTimeout(poll, 1000); }
}());
