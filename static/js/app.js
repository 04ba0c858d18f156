// Small behaviours every page may use, kept out of the HTML so the
// Content-Security-Policy can forbid inline script (docs/security.md).
(function () {
  "use strict";

  // <select data-autosubmit>: submit its form when the choice changes.
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
  });

  // <button data-copy="id">: copy that element's text to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button || !navigator.clipboard) return;
    var source = document.getElementById(button.dataset.copy);
    if (source) navigator.clipboard.writeText(source.innerText);
  });
})();
