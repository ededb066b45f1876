// The session inspector's behaviour: filter and sort variable tables, fill the edit form from a
// row, point at a JSON error, and keep what the operator opened while watch mode swaps the state.
// Values only ever reach the page through textContent and form values, never as HTML.
(function () {
  "use strict";

  var openFolds = new Set();
  var sortState = {}; // table id -> {key, descending}
  var filterText = "";
  var focusedId = null; // the element with focus when watch mode swapped the state

  function applyFilter() {
    var input = document.querySelector("input[data-filter-table]");
    if (!input) return;
    var table = document.querySelector(input.getAttribute("data-filter-table"));
    if (!table) return;
    var needle = input.value.trim().toLowerCase();
    table.querySelectorAll("tbody tr[data-name]").forEach(function (row) {
      var name = row.getAttribute("data-name").toLowerCase();
      row.hidden = needle !== "" && name.indexOf(needle) === -1;
    });
  }

  function sortTable(table) {
    var state = sortState[table.id];
    if (!state) return;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-name]"));
    var attribute = state.key === "type" ? "data-type" : "data-name";
    rows.sort(function (a, b) {
      var left = a.getAttribute(attribute).toLowerCase();
      var right = b.getAttribute(attribute).toLowerCase();
      var order = left < right ? -1 : left > right ? 1 : 0;
      if (order === 0 && attribute !== "data-name") {
        order = a.getAttribute("data-name").localeCompare(b.getAttribute("data-name"));
      }
      return state.descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("button.sort").forEach(function (button) {
      var header = button.closest("th");
      if (button.getAttribute("data-sort-key") === state.key) {
        header.setAttribute("aria-sort", state.descending ? "descending" : "ascending");
      } else {
        header.removeAttribute("aria-sort");
      }
    });
  }

  function restoreView(root) {
    root.querySelectorAll("details[data-fold]").forEach(function (details) {
      if (openFolds.has(details.getAttribute("data-fold"))) details.open = true;
    });
    root.querySelectorAll("table[data-sortable-table]").forEach(sortTable);
    var filter = document.querySelector("input[data-filter-table]");
    if (filter) filter.value = filterText;
    applyFilter();
    var focused = focusedId && document.getElementById(focusedId);
    if (focused) {
      focused.focus();
      if (typeof focused.selectionStart === "number") {
        focused.setSelectionRange(focused.value.length, focused.value.length);
      }
    }
  }

  function fillEditForm(button) {
    var form = document.getElementById("set-variable-form");
    if (!form) return;
    var panel = document.getElementById("set-variable");
    if (panel) panel.open = true;
    // The name as shown may not be the name (a NUL character shows as the text \u0000): the
    // exact name goes along as JSON text, until the person types another name.
    form.elements.name.value = button.getAttribute("data-name");
    form.elements.name_json.value = button.getAttribute("data-name-json");
    form.elements.kind.value = button.getAttribute("data-kind");
    form.elements.value.value = button.getAttribute("data-value");
    form.elements.value.disabled = form.elements.kind.value === "null";
    form.scrollIntoView({ block: "center" });
    (form.elements.value.disabled ? form.elements.kind : form.elements.value).focus();
  }

  function pointAtJsonError() {
    var editor = document.querySelector(".json-editor[data-error-line]");
    if (!editor) return;
    var textarea = editor.querySelector("textarea");
    var line = parseInt(editor.getAttribute("data-error-line"), 10);
    var column = parseInt(editor.getAttribute("data-error-column"), 10);
    var lines = textarea.value.split("\n");
    var offset = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    offset += Math.max(column - 1, 0);
    textarea.focus();
    textarea.setSelectionRange(offset, Math.min(offset + 1, textarea.value.length));
    var lineHeight = textarea.scrollHeight / Math.max(lines.length, 1);
    textarea.scrollTop = Math.max((line - 3) * lineHeight, 0);
  }

  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  onReady(function () {
    document.addEventListener(
      "toggle",
      function (event) {
        var details = event.target;
        if (!details.matches || !details.matches("details[data-fold]")) return;
        var key = details.getAttribute("data-fold");
        if (details.open) openFolds.add(key);
        else openFolds.delete(key);
      },
      true
    );

    document.body.addEventListener("input", function (event) {
      if (event.target.matches("input[data-filter-table]")) {
        filterText = event.target.value;
        applyFilter();
      }
      var target = event.target;
      if (target.form && target.form.id === "set-variable-form" && target.name === "name") {
        target.form.elements.name_json.value = "";
      }
    });

    document.body.addEventListener("change", function (event) {
      var target = event.target;
      if (target.form && target.form.id === "set-variable-form" && target.name === "kind") {
        target.form.elements.value.disabled = target.value === "null";
      }
    });

    document.body.addEventListener("click", function (event) {
      var sortButton = event.target.closest("button.sort");
      if (sortButton) {
        var table = sortButton.closest("table[data-sortable-table]");
        var key = sortButton.getAttribute("data-sort-key");
        var previous = sortState[table.id];
        sortState[table.id] = { key: key, descending: !!previous && previous.key === key && !previous.descending };
        sortTable(table);
        return;
      }
      var editButton = event.target.closest("[data-edit-variable]");
      if (editButton) fillEditForm(editButton);
    });

    // A poll answered by something other than the live state (the sign-in page after the session
    // expired) must not replace the inspector; reload so the browser shows it properly.
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      if (event.detail.target && event.detail.target.id === "live-state" &&
          event.detail.serverResponse.indexOf('id="live-state"') === -1) {
        event.detail.shouldSwap = false;
        window.location.reload();
        return;
      }
      var active = document.activeElement;
      focusedId = active && active.id && event.detail.target.contains(active) ? active.id : null;
    });
    document.body.addEventListener("htmx:afterSettle", function () {
      restoreView(document);
    });

    var form = document.getElementById("set-variable-form");
    if (form) form.elements.value.disabled = form.elements.kind.value === "null";
    pointAtJsonError();
  });
})();
