// Small behaviours every page may use, kept out of the HTML so the
// Content-Security-Policy can forbid inline script (docs/security.md).
(function () {
  "use strict";

  // <select data-autosubmit>: submit its form when the choice changes.
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
  });

  // <form data-confirm="question">: destructive actions ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Say what a button did, in the button and to screen readers, for a moment.
  function acknowledge(button, text) {
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = text;
    button.classList.add("done");
    var status = document.getElementById("status-message");
    if (status) status.textContent = text;
    window.setTimeout(function () {
      button.textContent = label;
      button.classList.remove("done");
    }, 2000);
  }
  window.hubAcknowledge = acknowledge;

  function copy(button, text) {
    if (!navigator.clipboard) { acknowledge(button, "Copy failed"); return; }
    navigator.clipboard.writeText(text).then(
      function () { acknowledge(button, "Copied"); },
      function () { acknowledge(button, "Copy failed"); }
    );
  }
  window.hubCopy = copy;

  // <button data-copy="id">: copy that element's text to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (source) copy(button, source.innerText);
  });
})();
