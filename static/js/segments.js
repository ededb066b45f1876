// The segment form's condition rows: add one (a copy of the row template) or remove one, keeping
// the formset's numbering (rows-0-…, rows-1-…) and its TOTAL_FORMS count in step.
(function () {
  "use strict";

  function renumber(form, rows) {
    var all = rows.querySelectorAll(".condition-row");
    all.forEach(function (row, index) {
      row.querySelectorAll("[name], [id], label[for]").forEach(function (element) {
        ["name", "id", "for"].forEach(function (attribute) {
          var value = element.getAttribute(attribute);
          if (value) element.setAttribute(attribute, value.replace(/rows-(\d+|__prefix__)-/, "rows-" + index + "-"));
        });
      });
    });
    form.querySelector("input[name='rows-TOTAL_FORMS']").value = String(all.length);
  }

  function setUp(rows) {
    var form = rows.closest("form");
    var template = form.querySelector("template[data-condition-row]");
    var most = parseInt(form.querySelector("input[name='rows-MAX_NUM_FORMS']").value, 10) || 20;
    form.querySelector("[data-add-row]").addEventListener("click", function () {
      if (rows.querySelectorAll(".condition-row").length >= most) return;
      rows.appendChild(template.content.cloneNode(true));
      renumber(form, rows);
    });
    rows.addEventListener("click", function (event) {
      var button = event.target.closest("[data-remove-row]");
      if (!button) return;
      button.closest(".condition-row").remove();
      renumber(form, rows);
    });
  }

  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  onReady(function () {
    document.querySelectorAll("[data-condition-rows]").forEach(setUp);
  });
})();
