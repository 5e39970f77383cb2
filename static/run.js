// Run page: polls the run's JSON every 1.5 s and redraws progress; reloads once it is final.
(function () {
  "use strict";
  const section = document.getElementById("run");
  if (!section) { return; }
  const FINAL = ["completed", "failed", "cancelled"];
  const STATUS = { queued: "En file d'attente", processing: "En cours", completed: "Terminée",
                   failed: "Échouée", cancelled: "Annulée" };
  const PHASE = { queued: "en attente", parsing: "lecture et enregistrement",
                  validating: "application des règles", saving: "enregistrement des constats",
                  done: "terminé" };
  if (FINAL.indexOf(section.dataset.status) >= 0) { return; }
  const bar = document.getElementById("run-progress");
  const label = document.getElementById("run-progress-label");

  function redraw(run) {
    const progress = Math.max(Number(bar.value) || 0, run.progress);
    bar.value = progress;
    label.textContent = progress + " %";
    const status = document.getElementById("run-status");
    status.textContent = STATUS[run.status] || run.status;
    status.className = "status " + run.status;
    document.getElementById("run-phase").textContent = PHASE[run.phase] || run.phase;
    document.getElementById("run-rows").textContent = run.totalRows || run.processedRows;
  }

  function poll() {
    fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (run) {
        if (run) {
          redraw(run);
          if (FINAL.indexOf(run.status) >= 0) { window.location.reload(); return; }
        }
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
}());
