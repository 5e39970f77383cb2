// Batch page: the batch's event stream (data-events-url, validateur/web/events.py: one event
// per change of one of its runs, as it commits) redraws each open file's line (status,
// progress, phase); when a run ends, the batch's JSON is read once and redraws every line
// (counts, reason) and the summary line; once the batch is final, the totals are filled in
// and shown, and the stream is closed. Where the stream cannot be had, the batch's JSON is
// polled every 1.5 s instead. Labels and words come from the page (#page-labels,
// #batch-words): the script keeps no French of its own.
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
  // One read of the batch's JSON at a time; a run that ends meanwhile asks for one more.
  let reading = false;
  let readAgain = false;
  function refresh() {
    if (reading) { readAgain = true; return; }
    reading = true;
    fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" },
                                       credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (batch) { if (batch) { redraw(batch); } })
      .catch(function () { readAgain = true; })
      .then(function () {
        reading = false;
        if (readAgain) { readAgain = false; window.setTimeout(refresh, 200); }
      });
  }

  function follow() {
    if (!window.EventSource || !section.dataset.eventsUrl) { window.setTimeout(poll, 500); return; }
    const source = new EventSource(section.dataset.eventsUrl);
    const ended = {};
    let failures = 0;
    function allEnded() {
      return Array.prototype.every.call(section.querySelectorAll("li[data-run-id]"),
        function (line) { return ended[line.dataset.runId]; });
    }
    function end(runId) {
      ended[runId] = true;
      refresh();
      if (allEnded()) { source.close(); }
    }
    source.addEventListener("open", function () {
      failures = 0;
      section.dataset.live = "stream";
    });
    source.addEventListener("run", function (event) {
      const run = JSON.parse(event.data);
      if (labels.final.indexOf(run.status) >= 0) { end(String(run.id)); return; }
      redrawRun(run);
    });
    source.addEventListener("gone", function (event) { end(String(JSON.parse(event.data).id)); });
    source.addEventListener("error", function () {
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures >= 5) {
        source.close();
        section.dataset.live = "poll";
        poll();
      }
    });
  }
  showRejected();
  if (labels.batchFinal.indexOf(section.dataset.status) < 0) { follow(); }
}());
