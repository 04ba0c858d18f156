// Keyboard behaviour of the chat: Enter sends, Shift+Enter adds a line,
// nothing is sent while an input method is composing; Esc stops the answer.
(function () {
  "use strict";

  function composer() { return document.querySelector("#composer textarea"); }

  document.addEventListener("keydown", function (event) {
    var box = composer();
    if (event.key === "Escape") {
      var stop = document.querySelector("[data-stop]");
      if (stop) { event.preventDefault(); stop.click(); }
      return;
    }
    if (!box || event.target !== box || event.key !== "Enter") return;
    if (event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    if (box.value.trim()) box.form.requestSubmit();
  });

  // After a send, clear the box and the preview.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = document.getElementById("composer");
    if (event.detail.elt === form && event.detail.successful) {
      composer().value = "";
      document.getElementById("preview").innerHTML = "";
      document.getElementById("resend-edited").hidden = true;
    }
  });

  // "Edit last": put the last user message back into the box for resending.
  document.addEventListener("click", function (event) {
    if (event.target.id !== "edit-last") return;
    var mine = document.querySelectorAll('#transcript [data-role="user"] .body');
    if (!mine.length) return;
    composer().value = mine[mine.length - 1].innerText;
    composer().focus();
    document.getElementById("resend-edited").hidden = false;
  });

  // Keep the newest message in view while an answer streams.
  document.addEventListener("htmx:sseMessage", function () {
    var log = document.getElementById("transcript");
    if (log) log.scrollTop = log.scrollHeight;
  });
})();
