// Batch page: every 1.5 s the batch's JSON redraws each file's line (status, progress, phase
// or counts) and the summary line; once the batch is final, the totals are filled in and
// shown, and polling stops. Labels and words come from the page (#page-labels, #batch-words):
// the script keeps no French of its own.
(function () {
  "use strict";
  const section = document.getElementById("batch");
  if (!section) { return; }
  const labels = JSON.parse(document.getElementById("page-labels").textContent);
  const format = window.ValidateurFormat;
  const plural = format.plural;
  const words = JSON.parse(document.getElementById("batch-words").textContent);

  function setText(element, value) {
    if (element && element.textContent !== value) { element.textContent = value; }
  }

  function facts(run) {
    if (run.status === "completed") {
      return [plural(run.totalRows, words.line), plural(run.counts.error, words.error),
              plural(run.counts.warning, words.warning),
              plural(run.counts.optimization, words.optimization),
              words.gain + " " + format.money(run.potentialGain)].join(" · ");
    }
    if (labels.final.indexOf(run.status) >= 0) {  // failed (with its reason) or cancelled
      return (run.errorCategory && run.errorMessage) || labels.status[run.status];
    }
    return format.percent(run.progress) + " · " + (labels.phase[run.phase] || run.phase);
  }

  function redrawRun(run) {
    const line = section.querySelector('li[data-run-id="' + run.id + '"]');
    if (!line) { return; }
    line.dataset.status = run.status;
    const status = line.querySelector('[data-cell="status"]');
    status.className = "status " + run.status;
    setText(status, labels.status[run.status] || run.status);
    const bar = line.querySelector('[data-cell="bar"]');
    bar.value = run.status === "completed" ? 100 : run.progress;
    setText(line.querySelector('[data-cell="facts"]'), facts(run));
  }

  function progressLine(batch) {
    let text = plural(batch.counts.completed, words.completed) + " " + words.of + " " +
      plural(batch.fileCount, words.file);
    if (batch.counts.failed) { text += ", " + plural(batch.counts.failed, words.failed); }
    if (batch.counts.cancelled) {
      text += ", " + plural(batch.counts.cancelled, words.cancelled);
    }
    return text;
  }

  function fillTotals(batch) {
    const totals = document.getElementById("batch-totals");
    Object.keys(batch.totals).forEach(function (key) {
      const cell = totals.querySelector('[data-total="' + key + '"]');
      const value = batch.totals[key];
      setText(cell, key === "potentialGain" || key === "moneyAtRisk" ?
        format.money(value) : format.integer(value));
    });
    totals.hidden = false;
    const cancel = document.getElementById("batch-cancel");
    if (cancel) { cancel.hidden = true; }  // nothing left to cancel (delete stays)
    const finished = document.getElementById("batch-finished");
    if (batch.finishedAt) {
      // `2025-03-10 14:05`, Montréal time, as the server's `when` filter writes it.
      setText(finished, new Date(batch.finishedAt).toLocaleString("sv-SE", {
        timeZone: "America/Montreal" }).slice(0, 16));
      document.getElementById("batch-finished-box").hidden = false;
    }
  }

  function redraw(batch) {
    section.dataset.status = batch.status;
    const status = document.getElementById("batch-status");
    status.className = "status " + batch.status;
    setText(status, labels.batchStatus[batch.status] || batch.status);
    setText(document.getElementById("batch-progress"), progressLine(batch));
    batch.runs.forEach(redrawRun);
    if (labels.batchFinal.indexOf(batch.status) >= 0) { fillTotals(batch); }
  }

  // The files refused at upload, handed over by the upload page (shown once, then dropped).
  function showRejected() {
    const key = "batch-rejected-" + section.dataset.batchId;
    let rejected = [];
    try {
      rejected = JSON.parse(window.sessionStorage.getItem(key) || "[]");
      window.sessionStorage.removeItem(key);
    } catch (err) { rejected = []; }
    if (!rejected.length) { return; }
    const box = document.getElementById("batch-rejected");
    const list = box.querySelector("ul");
    rejected.forEach(function (item) {
      const line = document.createElement("li");
      const name = document.createElement("strong");
      name.textContent = item.fileName;
      line.appendChild(name);
      line.appendChild(document.createTextNode(" : " + item.error.message));
      list.appendChild(line);
    });
    setText(document.getElementById("rejected-title"),
            plural(rejected.length, words.rejected, words.rejectedMany));
    box.hidden = false;
  }

  function poll() {
    fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" },
                                       credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (batch) {
        if (batch) { redraw(batch); }
        if (!batch || labels.batchFinal.indexOf(batch.status) < 0) {
          window.setTimeout(poll, 1500);
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  showRejected();
  if (labels.batchFinal.indexOf(section.dataset.status) < 0) { window.setTimeout(poll, 500); }
}());
