// promptd dashboard: the little htmx does not do. The Content-Security-Policy allows only
// same-origin scripts, so this file holds every behaviour, bound by data attributes:
//   data-copy="ID"  copies the text of element ID to the clipboard (or selects it when the
//                   browser refuses), and says so on the button;
//   data-hide="ID"  hides the contents of element ID again (a revealed secret);
//   data-add-row="ID" adds an empty message row to the chat message rows in element ID.
document.addEventListener("click", function (ev) {
  var copy = ev.target.closest("[data-copy]");
  if (copy) {
    var src = document.getElementById(copy.dataset.copy);
    if (!src) return;
    var text = src.value !== undefined ? src.value : src.textContent;
    var done = function (msg) {
      copy.textContent = msg;
      copy.setAttribute("aria-live", "polite");
    };
    var select = function () {
      var range = document.createRange();
      range.selectNodeContents(src);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      done("Selected: press Ctrl+C");
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done("Copied"); }, select);
    } else {
      select();
    }
    return;
  }
  var add = ev.target.closest("[data-add-row]");
  if (add) {
    var list = document.getElementById(add.dataset.addRow);
    var rows = list ? list.querySelectorAll(".msg-row") : [];
    if (rows.length === 0) return;
    var row = rows[rows.length - 1].cloneNode(true);
    var n = rows.length;
    row.querySelectorAll("[id]").forEach(function (el) { el.id = el.id.replace(/-\d+$/, "-" + n); });
    row.querySelectorAll("label[for]").forEach(function (el) { el.htmlFor = el.htmlFor.replace(/-\d+$/, "-" + n); });
    row.querySelector("textarea").value = "";
    row.querySelector("select").value = "user";
    rows[rows.length - 1].after(row);
    row.querySelector("select").focus();
    return;
  }
  var hide = ev.target.closest("[data-hide]");
  if (hide) {
    var box = document.getElementById(hide.dataset.hide);
    if (!box) return;
    var p = document.createElement("p");
    p.className = "muted small";
    p.textContent = "Hidden. Receivers verify signatures with it.";
    box.replaceChildren(p);
  }
});
