// Numbers written the Québec way, exactly as validateur/formatting.py and the pages' Jinja
// filters write them (a browser test compares the two): `100 000` with narrow no-break
// spaces, `1 234,56 $` and `49 %` with a no-break space, sizes `245 Ko`, `1,2 Mo`.
(function () {
  "use strict";
  const GROUP = "\u202f";
  const NBSP = "\u00a0";
  const KIB = 1024;

  function integer(value) {
    const number = Math.trunc(Number(value) || 0);
    const digits = String(Math.abs(number)).replace(/\B(?=(\d{3})+(?!\d))/g, GROUP);
    return (number < 0 ? "-" : "") + digits;
  }

  // `amount` is the API's decimal string ("-1234.50"): no float arithmetic on cents.
  function money(amount) {
    const text = String(amount === undefined || amount === null ? "0" : amount).trim();
    const match = /^(-?)(\d*)(?:\.(\d*))?$/.exec(text);
    if (!match) { return text; }
    const cents = ((match[3] || "") + "00").slice(0, 2);
    const units = integer(match[2] || "0");
    const zero = /^0*$/.test((match[2] || "") + cents);
    return (match[1] && !zero ? "-" : "") + units + "," + cents + NBSP + "$";
  }

  function percent(value) {
    return String(Math.trunc(Number(value) || 0)) + NBSP + "%";
  }

  function plural(count, one, many) {
    const number = Math.trunc(Number(count) || 0);
    return integer(number) + " " + (number < 2 ? one : (many || one + "s"));
  }

  function fileSize(size) {
    const value = Math.trunc(Number(size) || 0);
    if (value < KIB) { return plural(value, "octet"); }
    // Rounded half up, in integers, as the server does.
    if (value < KIB * KIB) { return integer(Math.floor((value + KIB / 2) / KIB)) + " Ko"; }
    const tenths = Math.floor((value * 10 + (KIB * KIB) / 2) / (KIB * KIB));
    return integer(Math.floor(tenths / 10)) + "," + String(tenths % 10) + " Mo";
  }

  // « 1re dans la file d'attente », « 3e … » with the letters raised (<sup>), as the
  // server's `queue_place` filter writes it; empties `element` when there is no place.
  function queuePlace(element, position) {
    while (element.firstChild) { element.removeChild(element.firstChild); }
    if (!position) { return; }
    const raised = document.createElement("sup");
    raised.textContent = position === 1 ? "re" : "e";
    element.appendChild(document.createTextNode(integer(position)));
    element.appendChild(raised);
    element.appendChild(document.createTextNode(" dans la file d\u2019attente"));
  }

  window.ValidateurFormat = { integer: integer, money: money, percent: percent,
                              plural: plural, fileSize: fileSize, queuePlace: queuePlace };
}());
