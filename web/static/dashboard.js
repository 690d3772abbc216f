// promptd dashboard: the little htmx does not do. The Content-Security-Policy allows only
// same-origin scripts, so this file holds every behaviour, bound by data attributes:
//   data-copy="ID"  copies the text of element ID to the clipboard (or selects it when the
//                   browser refuses), and says so on the button;
//   data-hide="ID"  hides the contents of element ID again (a revealed secret).
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
