/* advqa run report: filters, search and passage text on demand. Inlined; no network. */
(function () {
  "use strict";
  var probes = Array.prototype.slice.call(document.querySelectorAll("details.probe"));
  var dataNode = document.getElementById("passages-data");
  var passages = {};
  try { passages = JSON.parse(dataNode ? dataNode.textContent : "{}"); } catch (err) { passages = {}; }
  var outcome = document.getElementById("f-outcome");
  var documentFilter = document.getElementById("f-document");
  var search = document.getElementById("f-text");
  var count = document.getElementById("f-count");
  var empty = document.getElementById("f-empty");
  var texts = null;

  function haystacks() {
    if (texts === null) {
      texts = probes.map(function (p) { return (p.id + " " + p.textContent).toLowerCase(); });
    }
    return texts;
  }

  function apply() {
    var wantOutcome = outcome ? outcome.value : "";
    var wantDocument = documentFilter ? documentFilter.value : "";
    var words = search ? search.value.toLowerCase().split(/\s+/).filter(Boolean) : [];
    var all = words.length ? haystacks() : null;
    var shown = 0;
    probes.forEach(function (p, i) {
      var ok = (!wantOutcome || p.dataset.outcome === wantOutcome) &&
        (!wantDocument || p.dataset.document === wantDocument) &&
        words.every(function (w) { return all[i].indexOf(w) !== -1; });
      p.hidden = !ok;
      if (ok) { shown += 1; }
    });
    if (count) { count.textContent = shown + " of " + probes.length + " probes"; }
    if (empty) { empty.hidden = shown !== 0 || probes.length === 0; }
  }

  function fill(details) {
    var body = details.querySelector(".ptext");
    if (!body || body.dataset.filled) { return; }
    var passage = passages[details.dataset.pid];
    body.textContent = passage ? passage.t : "(passage text not available in this run folder)";
    body.dataset.filled = "1";
  }

  document.addEventListener("toggle", function (event) {
    var target = event.target;
    if (target && target.classList && target.classList.contains("passage") && target.open) { fill(target); }
  }, true);

  function openFromHash() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    if (!/^p-\d+$/.test(id)) { return; }
    var probe = document.getElementById(id);
    if (!probe) { return; }
    if (probe.hidden) {
      if (outcome) { outcome.value = ""; }
      if (documentFilter) { documentFilter.value = ""; }
      if (search) { search.value = ""; }
      apply();
    }
    probe.open = true;
    probe.scrollIntoView({ block: "start" });
  }

  [outcome, documentFilter].forEach(function (el) { if (el) { el.addEventListener("change", apply); } });
  if (search) { search.addEventListener("input", apply); }
  var openAll = document.getElementById("f-open");
  var closeAll = document.getElementById("f-close");
  if (openAll) {
    openAll.addEventListener("click", function () {
      probes.forEach(function (p) { if (!p.hidden) { p.open = true; } });
    });
  }
  if (closeAll) {
    closeAll.addEventListener("click", function () { probes.forEach(function (p) { p.open = false; }); });
  }
  window.addEventListener("hashchange", openFromHash);
  apply();
  openFromHash();
}());
