// Postern web page: small enhancements only; every action also works without script.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  // The custom scores matter only with the level "custom".
  var level = document.getElementById('level');
  var scores = document.getElementById('scores');
  if (level && scores) {
    var show = function () { scores.classList.toggle('hidden', level.value !== 'custom'); };
    level.addEventListener('change', show);
    show();
  }
  // Quarantine table: sort by a column, filter by text.
  var table = document.getElementById('quarantine-table');
  var search = document.getElementById('quarantine-search');
  if (table) {
    var body = table.tBodies[0];
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      var key = th.getAttribute('data-sort');
      if (!key) return;
      var button = document.createElement('button');
      button.type = 'button';
      button.textContent = th.textContent;
      th.textContent = '';
      th.appendChild(button);
      var asc = true;
      button.addEventListener('click', function () {
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute('data-value') || a.cells[col].textContent;
          var y = b.cells[col].getAttribute('data-value') || b.cells[col].textContent;
          var nx = parseFloat(x), ny = parseFloat(y);
          var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return asc ? c : -c;
        });
        asc = !asc;
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }
  if (table && search) {
    search.classList.remove('hidden');
    search.addEventListener('input', function () {
      var q = search.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.classList.toggle('hidden', q !== '' && r.textContent.toLowerCase().indexOf(q) < 0);
      });
    });
  }
});
