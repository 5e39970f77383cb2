// Calendar page: a click (or Enter) on a day opens that day's findings in the panel below the
// month, loaded from the results API filtered by doctor and date; without JavaScript the day
// is a link to the run page with the same filters. Dates are never parsed here: the server
// writes each day's ISO date and its French name (« vendredi 1er août 2025 ») on the link,
// so no time zone can move a day.
(function () {
  "use strict";
  const section = document.getElementById("calendar");
  const panel = document.getElementById("day-panel");
  if (!section || !panel) { return; }
  const format = window.ValidateurFormat;
  const title = document.getElementById("day-panel-title");
  const status = document.getElementById("day-panel-status");
  const body = document.getElementById("day-panel-body");
  const link = document.getElementById("day-panel-link");
  const PER_PAGE = 100;
  const SEVERITY = { error: "Erreur", warning: "Avertissement", optimization: "Optimisation",
                     info: "Information" };
  let opener = null;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function item(finding) {
    const li = element("li", "day-finding");
    const head = element("p", "day-finding-head");
    head.appendChild(element("span", "sev " + finding.severity,
                             SEVERITY[finding.severity] || finding.severity));
    const amount = Number(finding.monetaryImpact);
    if (amount) {
      head.appendChild(document.createTextNode(" "));
      head.appendChild(element("strong", amount < 0 ? "risk" : "gain",
                               format.money(finding.monetaryImpact)));
    }
    li.appendChild(head);
    li.appendChild(element("p", "day-finding-message", finding.message));
    if (finding.solution) { li.appendChild(element("p", "muted", finding.solution)); }
    const facts = [];
    if (finding.idRamq && finding.idRamq.length) { facts.push("Réclamation " + finding.idRamq.slice(0, 5).join(", ")); }
    if (finding.person) { facts.push(finding.person); }
    const lines = finding.lines && finding.lines.length ? finding.lines : finding.rows;
    if (lines && lines.length) {
      facts.push((lines.length > 1 ? "Lignes " : "Ligne ") + lines.slice(0, 10).join(", ") +
                 (lines.length > 10 ? "…" : ""));
    }
    if (facts.length) { li.appendChild(element("p", "muted day-finding-facts", facts.join(" · "))); }
    return li;
  }

  function show(day) {
    const date = day.dataset.date;
    section.querySelectorAll(".day.selected").forEach(function (node) {
      node.classList.remove("selected");
    });
    day.parentNode.classList.add("selected");
    opener = day;
    title.textContent = "Constats du " + day.dataset.name;
    link.href = day.getAttribute("href");
    body.textContent = "";
    status.textContent = "Chargement des constats…";
    panel.hidden = false;
    panel.focus();
    const params = new URLSearchParams({ doctor: section.dataset.doctor, date: date,
                                         per_page: String(PER_PAGE) });
    fetch(section.dataset.resultsUrl + "?" + params.toString(),
          { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(String(response.status)); }
                                  return response.json(); })
      .then(function (answer) {
        if (opener !== day) { return; }
        const list = element("ul", "day-findings");
        answer.items.forEach(function (finding) { list.appendChild(item(finding)); });
        body.appendChild(list);
        status.textContent = answer.total
          ? format.plural(answer.total, "constat") +
            (answer.total > answer.items.length ? " ; les " + format.integer(answer.items.length) +
             " premiers sont ci-dessous, tous sont dans la page de la validation." : ".")
          : "Aucun constat ce jour-là.";
      })
      .catch(function () {
        if (opener === day) { status.textContent = "Les constats n'ont pas pu être chargés ; réessayez."; }
      });
  }

  section.querySelectorAll("a.day-link").forEach(function (day) {
    day.addEventListener("click", function (event) {
      if (event.ctrlKey || event.metaKey || event.shiftKey) { return; }  // a new tab: the link
      event.preventDefault();
      show(day);
    });
  });

  document.getElementById("day-panel-close").addEventListener("click", function () {
    panel.hidden = true;
    if (opener) { opener.focus(); }
  });
}());
