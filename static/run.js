// Run page: polls the run's JSON and redraws status, phase, rows and progress while it is
// queued or processing; once it is final the page reloads, and the server shows the result.
// Labels and final statuses come from the page (#page-labels, from validateur.labels and
// RunStatus), which hands them over only while the run is open: the script keeps no copy.
(function () {
  "use strict";
  const section = document.getElementById("run");
  const handed = document.getElementById("page-labels");
  if (!section || !handed) { return; }
  const labels = JSON.parse(handed.textContent);
  const FINAL = labels.final;
  if (FINAL.indexOf(section.dataset.status) >= 0) { return; }
  const format = window.ValidateurFormat;
  const bar = document.getElementById("run-progress");

  function text(id, value) {
    const element = document.getElementById(id);
    if (element && element.textContent !== value) { element.textContent = value; }
  }

  function redraw(run) {
    const progress = Math.max(Number(bar.value) || 0, run.progress);
    bar.value = progress;
    text("run-progress-label", format.percent(progress));
    const status = document.getElementById("run-status");
    text("run-status", labels.status[run.status] || run.status);
    status.className = "status " + run.status;
    text("run-phase", labels.phase[run.phase] || run.phase);
    text("run-rows", format.integer(run.totalRows || run.processedRows));
    const place = document.getElementById("run-queue-place");
    if (place) {
      const position = run.status === "queued" ? run.queuePosition : null;
      const shown = place.querySelector(".queue-place");
      if (shown.dataset.position !== String(position)) {
        format.queuePlace(shown, position);
        shown.dataset.position = String(position);
      }
      place.hidden = !position;
    }
  }

  function poll() {
    fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" },
                                       credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (run) {
        if (run) {
          if (FINAL.indexOf(run.status) >= 0) { window.location.reload(); return; }
          redraw(run);
        }
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
}());
