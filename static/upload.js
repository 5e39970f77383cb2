// Upload page: a file chosen (button, keyboard or drop) is posted to the API with progress.
// Without this script the same form posts to /upload; with it, the dropzone becomes the one
// keyboard stop (Enter or Space opens the chooser) and a dropped file is the one sent.
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
  let chosen = null;

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

  function choose(file) {
    chosen = file;
    nameLabel.textContent = file ? file.name + " · " + format.fileSize(file.size) : messages.noFile;
    nameLabel.classList.toggle("has-file", Boolean(file));
    if (file) { say("", false); }
  }

  function openChooser() { input.click(); }

  input.addEventListener("change", function () { choose(input.files[0] || null); });
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
      choose(files[0]);
    }
  });

  function finish(request) {
    let body = {};
    try { body = JSON.parse(request.responseText); } catch (err) { body = {}; }
    if (request.status === 202 && body.validationId) {
      window.location.assign(form.dataset.runs + "/" + encodeURIComponent(body.validationId));
      return;
    }
    button.disabled = false;
    bar.hidden = true;
    say((body.error && body.error.message) ||
        messages.failed.replace("{status}", String(request.status)), true);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!chosen) {
      say(messages.nothingChosen, true);
      zone.focus();
      return;
    }
    const data = new FormData();
    data.append("file", chosen, chosen.name);
    const request = new XMLHttpRequest();
    request.open("POST", form.dataset.api);
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
