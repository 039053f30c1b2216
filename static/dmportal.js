// dmportal's only script: copy buttons, keyboard shortcuts, auto-submitting selects, and a
// banner when htmx cannot reach dmportal at all. No inline scripts (the CSP forbids them).
(function () {
  "use strict";

  function flash(text, kind) {
    var region = document.getElementById("flash");
    if (!region) return;
    var p = document.createElement("p");
    p.className = "message " + (kind || "error");
    p.setAttribute("role", "alert");
    p.textContent = text;
    region.appendChild(p);
  }

  function copyText(text, button) {
    function done() {
      button.classList.add("copied");
      setTimeout(function () { button.classList.remove("copied"); }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text) && done(); });
    } else if (fallbackCopy(text)) {
      done();
    }
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-from]");
    if (button) {
      var text = button.getAttribute("data-copy");
      if (text === null) {
        var source = document.getElementById(button.getAttribute("data-copy-from"));
        text = source ? source.textContent : "";
      }
      copyText(text, button);
      return;
    }
    if (event.target.closest("[data-show-shortcuts]")) {
      showShortcuts();
      return;
    }
    if (event.target.closest("[data-back]")) {
      history.back();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) {
      event.target.form.requestSubmit();
    }
  });

  // A form whose submit button says what is happening while a slow check runs.
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("button[data-busy-label]");
    if (button) {
      button.textContent = button.getAttribute("data-busy-label");
      setTimeout(function () { button.disabled = true; }, 0);
    }
  });

  function showShortcuts() {
    var dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
  }

  var pendingG = false;
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var typing = target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
    // A textarea that takes a list (the support search): Enter submits, Shift+Enter is a new line.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing &&
        target.matches("textarea[data-enter-submits]") && target.form) {
      event.preventDefault();
      target.form.requestSubmit();
      return;
    }
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "/") {
      var search = document.querySelector("[data-shortcut='/']");
      var dialog = document.querySelector("dialog[open]");
      if (dialog) dialog.close();  // the page behind an open dialog cannot take the focus
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (event.key === "?") {
      event.preventDefault();
      showShortcuts();
    } else if (event.key === "g") {
      pendingG = true;
      setTimeout(function () { pendingG = false; }, 1200);
    } else if (pendingG) {
      pendingG = false;
      var link = document.querySelector("[data-key='" + event.key + "']");
      if (link) { event.preventDefault(); link.click(); }
    }
  });

  // htmx swaps dmportal's own error fragments (see responseHandling in the htmx-config
  // meta tag). An error answer that is not dmportal's (no X-Request-ID: a proxy's 502 page, a
  // firewall's 403, an empty 500) is not swapped in, where it would replace part of the page
  // with a foreign page or with nothing: a banner says what happened, and the page stays.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (event.detail.isError && !xhr.getResponseHeader("X-Request-ID")) {
      event.detail.shouldSwap = false;
      flash("The request failed before dmportal could answer it (HTTP " + xhr.status +
            "). This page was left as it was; try again.");
    }
  });
  // These fire when dmportal could not be reached at all, or was too slow.
  document.addEventListener("htmx:sendError", function () {
    flash("dmportal could not be reached. Check your network connection and try again.");
  });
  document.addEventListener("htmx:timeout", function () {
    flash("dmportal took too long to answer. Try again.");
  });
})();
