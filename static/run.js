// Run page: while the run is queued or processing, follows its state and redraws status,
// phase, rows, progress and place in line. The state comes from the run's event stream
// (`EventSource` on data-events-url, validateur/web/events.py: one event per change, as it
// commits); where the stream cannot be had (no EventSource, refused, broken 5 times in a row)
// the page polls the run's JSON instead. Once the run is final, its status is shown at once and
// the server's page for it (summary, findings) is put in place without a reload.
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
  const MAX_FAILURES = 5;
  let finished = false;

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

  // The final state at once, then the page the server renders for it in place of this one.
  function finish(run) {
    if (finished) { return; }
    finished = true;
    redraw(run);
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html");
        const main = document.getElementById("contenu");
        const next = fresh.getElementById("contenu");
        if (!main || !next) { throw new Error("no content"); }
        main.replaceChildren.apply(main, Array.from(next.childNodes).map(function (node) {
          return document.adoptNode(node);
        }));
        document.title = fresh.title;
        if (window.ValidateurRunGroups) { window.ValidateurRunGroups(); }
      })
      .catch(function () { window.location.reload(); });
  }

  function poll() {
    fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" },
                                       credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (run) {
        if (run) {
          if (FINAL.indexOf(run.status) >= 0) { finish(run); return; }
          redraw(run);
        }
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }

  function follow() {
    if (!window.EventSource || !section.dataset.eventsUrl) { window.setTimeout(poll, 1000); return; }
    const source = new EventSource(section.dataset.eventsUrl);
    let failures = 0;
    source.addEventListener("open", function () {
      failures = 0;
      section.dataset.live = "stream";
    });
    source.addEventListener("run", function (event) {
      const run = JSON.parse(event.data);
      if (FINAL.indexOf(run.status) >= 0) { source.close(); finish(run); return; }
      redraw(run);
    });
    source.addEventListener("gone", function () { source.close(); window.location.reload(); });
    source.addEventListener("error", function () {
      // A broken stream is reconnected by the browser itself; one refused, or broken again
      // and again, is given up for polling.
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures >= MAX_FAILURES) {
        source.close();
        section.dataset.live = "poll";
        poll();
      }
    });
  }
  follow();
}());

// Groups of findings (per severity, rule and scenario) are <details>: opening one loads its
// findings from the results API, 25 at a time, with the page's filters; « Afficher plus »
// loads the next page. Without JavaScript the group's link opens the filtered run page.
// Run at load, and again when a run that just ended puts its results in place.
window.ValidateurRunGroups = function () {
  "use strict";
  const section = document.getElementById("groups");
  if (!section) { return; }
  const format = window.ValidateurFormat;
  const PER_PAGE = 25;
  const filters = JSON.parse(section.dataset.filters || "{}");
  const COLUMNS = ["Date", "Médecin", "Personne", "Lignes", "Montant", "Message", "Solution"];
  let serial = 0;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function cell(label, value, className) {
    const td = element("td", className, value);
    td.setAttribute("role", "cell");
    td.dataset.label = label;
    return td;
  }

  function list(values) {
    const text = (values || []).join(", ");
    return text.length > 60 ? text.slice(0, 57) + "..." : text;
  }

  function row(finding) {
    const tr = element("tr");
    tr.setAttribute("role", "row");
    const th = element("th", "claims", list(finding.idRamq) || "Sans réclamation");
    th.scope = "row";
    th.setAttribute("role", "rowheader");
    tr.appendChild(th);
    tr.appendChild(cell("Date", finding.serviceDate || "", "nowrap"));
    const doctor = cell("Médecin", finding.doctorLabel || "");
    if (finding.doctor) { doctor.appendChild(element("span", "licence", " " + finding.doctor)); }
    tr.appendChild(doctor);
    tr.appendChild(cell("Personne", finding.person || ""));
    tr.appendChild(cell("Lignes", list(finding.lines && finding.lines.length ? finding.lines : finding.rows)));
    const amount = Number(finding.monetaryImpact);
    tr.appendChild(cell("Montant", format.money(finding.monetaryImpact),
                        "num" + (amount < 0 ? " risk" : amount > 0 ? " gain" : "")));
    tr.appendChild(cell("Message", finding.message, "text"));
    tr.appendChild(cell("Solution", finding.solution, "text"));
    return tr;
  }

  function table(group, title) {
    serial += 1;
    const id = "group-caption-" + serial;
    const box = element("div", "table-scroll");
    box.setAttribute("role", "region");
    box.setAttribute("aria-labelledby", id);
    box.tabIndex = 0;
    const tableNode = element("table", "findings group-findings reflow");
    tableNode.setAttribute("role", "table");
    const caption = element("caption", null, title);
    caption.id = id;
    tableNode.appendChild(caption);
    const head = element("thead");
    head.setAttribute("role", "rowgroup");
    const tr = element("tr");
    tr.setAttribute("role", "row");
    ["Réclamation"].concat(COLUMNS).forEach(function (name) {
      const th = element("th", name === "Montant" ? "num" : null, name);
      th.scope = "col";
      th.setAttribute("role", "columnheader");
      tr.appendChild(th);
    });
    head.appendChild(tr);
    tableNode.appendChild(head);
    const body = element("tbody");
    body.setAttribute("role", "rowgroup");
    tableNode.appendChild(body);
    box.appendChild(tableNode);
    return { box: box, caption: caption, body: body };
  }

  function url(group, page) {
    const params = new URLSearchParams(filters);
    params.set("severity", group.dataset.severity);
    params.set("rule", group.dataset.rule);
    params.set("scenario", group.dataset.scenario);
    params.set("page", String(page));
    params.set("per_page", String(PER_PAGE));
    return section.dataset.resultsUrl + "?" + params.toString();
  }

  function load(group, state) {
    state.button.disabled = true;
    state.status.textContent = "Chargement des constats…";
    fetch(url(group, state.page + 1), { headers: { Accept: "application/json" },
                                        credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(String(response.status)); }
                                  return response.json(); })
      .then(function (answer) {
        state.page += 1;
        answer.items.forEach(function (finding) { state.parts.body.appendChild(row(finding)); });
        const shown = state.parts.body.children.length;
        state.parts.caption.textContent = state.title + " : " + (answer.total
          ? "constats 1 à " + format.integer(shown) + " sur " + format.integer(answer.total)
          : "aucun constat");
        state.status.textContent = format.plural(shown, "constat affiché", "constats affichés") +
          " sur " + format.integer(answer.total) + ".";
        const more = shown < answer.total;
        state.button.hidden = !more;
        state.button.disabled = false;
      })
      .catch(function () {
        state.status.textContent = "Les constats n'ont pas pu être chargés ; réessayez.";
        state.button.hidden = false;
        state.button.disabled = false;
      });
  }

  function open(group) {
    const body = group.querySelector(".group-body");
    const link = body.querySelector(".group-link");
    const parts = table(group, "Constats du groupe");
    const status = element("p", "group-status");
    status.setAttribute("aria-live", "polite");
    const button = element("button", "secondary more", "Afficher " + PER_PAGE + " constats de plus");
    button.type = "button";
    const heading = group.querySelector(".scenario-title");
    const state = { page: 0, parts: parts, status: status, button: button,
                    title: heading ? heading.textContent.trim() : "Constats" };
    button.addEventListener("click", function () { load(group, state); });
    body.insertBefore(parts.box, link);
    body.insertBefore(status, link);
    body.insertBefore(button, link);
    load(group, state);
  }

  section.querySelectorAll("details.group").forEach(function (group) {
    group.addEventListener("toggle", function () {
      if (group.open && !group.dataset.loaded) {
        group.dataset.loaded = "1";
        open(group);
      }
    });
  });
};
window.ValidateurRunGroups();
