// Keyboard behaviour of the chat: Enter sends (or, after "Edit last",
// resends the edited message), Shift+Enter adds a line, nothing is sent
// while an input method is composing; Esc stops the answer.
(function () {
  "use strict";

  function composer() { return document.querySelector("#composer textarea"); }
  function byId(id) { return document.getElementById(id); }

  function editing(on) {
    var resend = byId("resend-edited"), send = byId("send");
    if (!resend || !send) return;
    resend.hidden = !on;
    send.hidden = on;
    byId("composer").dataset.editing = on ? "true" : "";
  }

  document.addEventListener("keydown", function (event) {
    var box = composer();
    if (event.key === "Escape") {
      var stop = document.querySelector("[data-stop]");
      if (stop) { event.preventDefault(); stop.click(); return; }
      if (box && byId("composer").dataset.editing) { editing(false); box.value = ""; }
      return;
    }
    if (!box || event.target !== box || event.key !== "Enter") return;
    if (event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    if (!box.value.trim()) return;
    if (byId("composer").dataset.editing) byId("resend-edited").click();
    else box.form.requestSubmit();
  });

  // After a send, an edit or a regenerate went through, clear the box, the
  // preview and any refusal. A refusal (retargeted to #composer-error)
  // leaves the typed text where it is.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = byId("composer");
    if (!form || !form.contains(event.detail.elt) || event.detail.elt.tagName === "TEXTAREA") return;
    if (!event.detail.successful || event.detail.xhr.getResponseHeader("HX-Retarget")) return;
    composer().value = "";
    byId("preview").innerHTML = "";
    byId("composer-error").innerHTML = "";
    editing(false);
  });

  // "Edit last": put the last user message back into the box; Enter or
  // "Resend edited" replaces it and answers again.
  document.addEventListener("click", function (event) {
    if (event.target.id !== "edit-last") return;
    var mine = document.querySelectorAll('#transcript [data-role="user"] .body');
    if (!mine.length) return;
    composer().value = mine[mine.length - 1].innerText;
    composer().focus();
    editing(true);
  });

  // Copy buttons on every finished answer and on each of its code blocks.
  function addCopyButtons(root) {
    root.querySelectorAll("article.msg.assistant .markdown").forEach(function (body) {
      body.querySelectorAll("pre").forEach(function (pre) {
        if (pre.dataset.copyable) return;
        pre.dataset.copyable = "1";
        var button = document.createElement("button");
        button.type = "button";
        button.className = "link copy-code";
        button.textContent = "Copy code";
        button.addEventListener("click", function () { window.hubCopy(button, pre.innerText); });
        pre.before(button);
      });
      var article = body.closest("article");
      if (article.querySelector(".copy-answer") || !body.innerText.trim()) return;
      var copy = document.createElement("button");
      copy.type = "button";
      copy.className = "link copy-answer";
      copy.textContent = "Copy answer";
      copy.addEventListener("click", function () { window.hubCopy(copy, body.innerText); });
      body.after(copy);
    });
  }

  // Regenerate keeps earlier answers (hidden, data-replaced): each answer of
  // a group gets "Version k of n" with buttons to switch between them.
  function versionGroups() {
    var groups = [], current = [];
    var log = byId("transcript");
    if (!log) return groups;
    Array.prototype.forEach.call(log.children, function (child) {
      if (child.matches("article.msg.assistant")) { current.push(child); return; }
      if (current.length) groups.push(current);
      current = [];
    });
    if (current.length) groups.push(current);
    return groups.filter(function (group) { return group.length > 1; });
  }

  function addVersionSwitchers() {
    versionGroups().forEach(function (group) {
      group.forEach(function (article, index) {
        var old = article.querySelector(".versions");
        if (old) old.remove();
        if (article.getAttribute("aria-busy") === "true") return;
        var nav = document.createElement("nav");
        nav.className = "versions";
        nav.setAttribute("aria-label", "Answer versions");
        function button(label, target) {
          var b = document.createElement("button");
          b.type = "button";
          b.className = "link";
          b.textContent = label;
          b.disabled = !target;
          b.addEventListener("click", function () {
            article.hidden = true;
            target.hidden = false;
            var focus = target.querySelector(".versions button:not([disabled])");
            if (focus) focus.focus();
          });
          return b;
        }
        nav.append(button("‹ Previous", group[index - 1]));
        var label = document.createElement("span");
        label.textContent = "Version " + (index + 1) + " of " + group.length;
        nav.append(label, button("Next ›", group[index + 1]));
        article.prepend(nav);
      });
    });
  }

  function toLatest() {
    var log = byId("transcript");
    if (log) log.scrollTop = log.scrollHeight;
  }

  document.addEventListener("DOMContentLoaded", function () {
    addCopyButtons(document);
    addVersionSwitchers();
    toLatest();  // a chat opens at its latest message
  });
  document.addEventListener("htmx:afterSettle", function () {
    addCopyButtons(document);
    addVersionSwitchers();
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "transcript") toLatest();
  });

  // Keep the newest message in view while an answer streams.
  document.addEventListener("htmx:sseMessage", toLatest);
})();
