// Upload page: files chosen (button, keyboard or drop) are posted to the API with progress.
// One file is one validation (its page opens); several, or a .zip, are one batch (the batch
// page opens; the files refused at upload are handed to it through sessionStorage).
// Without this script the same form posts to /upload; with it, the dropzone becomes the one
// keyboard stop (Enter or Space opens the chooser) and dropped files are the ones sent.
// Messages come from the page (#upload-messages); no inline script (the CSP forbids it).
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) { return; }
  const format = window.ValidateurFormat;
  const messages = JSON.parse(document.getElementById("upload-messages").textContent);
  const input = document.getElementById("file-input");
  const zone = document.getElementById("dropzone");
  const nameLabel = document.getElementById("file-name");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const button = document.getElementById("upload-button");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const list = document.getElementById("chosen-files");
  let chosen = [];

  // The dropzone is the control; the hidden native input is only its file chooser.
  zone.tabIndex = 0;
  zone.setAttribute("role", "button");
  zone.setAttribute("aria-label", zone.dataset.label);
  zone.setAttribute("aria-describedby", "file-name");
  input.tabIndex = -1;

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "flash error" : "";
  }

  function choose(files) {
    chosen = Array.prototype.slice.call(files || []);
    const total = chosen.reduce(function (sum, file) { return sum + file.size; }, 0);
    if (!chosen.length) {
      nameLabel.textContent = messages.noFile;
    } else if (chosen.length === 1) {
      nameLabel.textContent = chosen[0].name + " · " + format.fileSize(chosen[0].size);
    } else {
      nameLabel.textContent = messages.severalChosen
        .replace("{count}", format.integer(chosen.length))
        .replace("{size}", format.fileSize(total));
    }
    list.textContent = "";
    if (chosen.length > 1) {
      chosen.forEach(function (file) {
        const item = document.createElement("li");
        item.textContent = file.name + " · " + format.fileSize(file.size);
        list.appendChild(item);
      });
    }
    list.hidden = chosen.length < 2;
    nameLabel.classList.toggle("has-file", chosen.length > 0);
    if (chosen.length) { say("", false); }
  }

  // A single .zip is a batch too: its CSV files are the batch's files.
  function isBatch() {
    return chosen.length > 1 || (chosen.length === 1 && /\.zip$/i.test(chosen[0].name));
  }

  function openChooser() { input.click(); }

  input.addEventListener("change", function () { choose(input.files); });
  zone.addEventListener("keydown", function (event) {
    if (event.target === zone && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      openChooser();
    }
  });
  zone.addEventListener("click", function (event) {
    // The label opens the chooser by itself; a click elsewhere on the zone does the same.
    if (event.target.closest("label") || event.target === input) { return; }
    openChooser();
  });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      event.preventDefault();
      if (event.dataTransfer) { event.dataTransfer.dropEffect = "copy"; }
      zone.classList.add("over");
    });
  });
  zone.addEventListener("dragleave", function (event) {
    if (!zone.contains(event.relatedTarget)) { zone.classList.remove("over"); }
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("over");
    const files = event.dataTransfer ? event.dataTransfer.files : null;
    if (files && files.length) {
      try { input.files = files; } catch (err) { /* read-only in old browsers: `chosen` is sent */ }
      choose(files);
    }
  });

  function finish(request) {
    let body = {};
    try { body = JSON.parse(request.responseText); } catch (err) { body = {}; }
    if (request.status === 202 && body.validationId) {
      window.location.assign(form.dataset.runs + "/" + encodeURIComponent(body.validationId));
      return;
    }
    if (request.status === 202 && body.batchId) {
      try {
        window.sessionStorage.setItem("batch-rejected-" + body.batchId,
                                      JSON.stringify(body.rejected || []));
      } catch (err) { /* storage refused: the batch page simply lists no refusal */ }
      window.location.assign(form.dataset.batches + "/" + encodeURIComponent(body.batchId));
      return;
    }
    button.disabled = false;
    bar.hidden = true;
    say((body.error && body.error.message) ||
        messages.failed.replace("{status}", String(request.status)), true);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!chosen.length) {
      say(messages.nothingChosen, true);
      zone.focus();
      return;
    }
    const data = new FormData();
    const batch = isBatch();
    chosen.forEach(function (file) { data.append(batch ? "files" : "file", file, file.name); });
    const request = new XMLHttpRequest();
    request.open("POST", batch ? form.dataset.batchApi : form.dataset.api);
    request.setRequestHeader("X-CSRFToken", csrf);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round((e.loaded / e.total) * 100); }
    });
    request.addEventListener("load", function () { finish(request); });
    request.addEventListener("error", function () {
      button.disabled = false;
      bar.hidden = true;
      say(messages.unreachable, true);
    });
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    say(messages.sending, false);
    request.send(data);
  });
}());
