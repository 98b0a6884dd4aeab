// Sortable, filterable tables: a table that follows an <input class="headdb-table-filter">
// gets click-to-sort headers and live filtering. Runs on every page load, including
// mkdocs-material's instant navigation (document$), or on DOMContentLoaded without it.
(function () {
  function cellText(row, index) {
    var cell = row.cells[index];
    return cell ? cell.textContent.trim() : "";
  }

  var NUMBER = /^-?\d+(\.\d+)?$/;  // plain numbers only: ISO dates sort as text

  function compare(a, b) {
    if (NUMBER.test(a) && NUMBER.test(b)) return parseFloat(a) - parseFloat(b);
    return a.localeCompare(b);
  }

  function enhance(input) {
    if (input.dataset.headdbReady) return;
    var node = input.parentElement;
    var table = null;
    while (node && !table) {
      node = node.nextElementSibling;
      if (node) table = node.tagName === "TABLE" ? node : node.querySelector("table");
    }
    if (!table || !table.tBodies.length) return;
    input.dataset.headdbReady = "1";
    var body = table.tBodies[0];
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, index) {
      th.style.cursor = "pointer";
      th.setAttribute("role", "button");
      th.title = "Sort by " + th.textContent.trim();
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var order = compare(cellText(r1, index), cellText(r2, index));
          return ascending ? order : -order;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(body.rows, function (row) {
        row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) === -1;
      });
    });
  }

  function init() {
    document.querySelectorAll("input.headdb-table-filter").forEach(enhance);
  }

  if (typeof document$ !== "undefined" && document$.subscribe) {
    document$.subscribe(init);
  } else {
    document.addEventListener("DOMContentLoaded", init);
  }
})();
