// Upload page: drag-and-drop or file input, posted to the API with progress; no inline script.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) { return; }
  const input = document.getElementById("file-input");
  const zone = document.getElementById("dropzone");
  const nameLabel = document.getElementById("file-name");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const button = document.getElementById("upload-button");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let chosen = null;

  function choose(file) {
    chosen = file;
    nameLabel.textContent = file ? file.name + " (" + Math.ceil(file.size / 1024) + " Ko)" : "";
  }
  input.addEventListener("change", function () { choose(input.files[0] || null); });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    if (event.dataTransfer.files.length) { choose(event.dataTransfer.files[0]); }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!chosen) { status.textContent = "Choisissez un fichier CSV."; return; }
    const data = new FormData();
    data.append("file", chosen, chosen.name);
    const request = new XMLHttpRequest();
    request.open("POST", form.dataset.api);
    request.setRequestHeader("X-CSRFToken", csrf);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round((e.loaded / e.total) * 100); }
    });
    request.addEventListener("load", function () {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (err) { body = {}; }
      if (request.status === 202 && body.validationId) {
        window.location.href = "/runs/" + encodeURIComponent(body.validationId);
        return;
      }
      button.disabled = false;
      bar.hidden = true;
      status.textContent = (body.error && body.error.message) || ("Échec du téléversement (" + request.status + ").");
      status.className = "flash error";
    });
    request.addEventListener("error", function () {
      button.disabled = false;
      status.textContent = "Le serveur est injoignable ; réessayez.";
      status.className = "flash error";
    });
    button.disabled = true;
    bar.hidden = false;
    status.className = "";
    status.textContent = "Téléversement en cours…";
    request.send(data);
  });
}());
