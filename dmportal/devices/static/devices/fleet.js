// The device list's widgets, on top of forms that work without it: the Columns chooser's
// arrows move a column in place (without this file each arrow saves and reloads), a filter's
// drop-down of tick boxes says what is ticked, and Escape closes an open menu. No inline
// scripts (the CSP forbids them); events are delegated, so swapped-in fragments work too.
(function () {
  "use strict";

  function say(form, text) {
    var status = form.querySelector("[data-column-status]");
    if (status) status.textContent = text;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".column-chooser button[data-move]");
    if (!button) return;
    event.preventDefault();
    var item = button.closest("li");
    var list = item.parentNode;
    var up = button.getAttribute("data-move") === "up";
    var other = up ? item.previousElementSibling : item.nextElementSibling;
    if (!other) return;
    list.insertBefore(item, up ? other : other.nextElementSibling);
    button.focus();
    var position = Array.prototype.indexOf.call(list.children, item) + 1;
    var label = item.querySelector("label").textContent.trim();
    say(button.form, label + ": position " + position + " of " + list.children.length);
  });

  document.addEventListener("change", function (event) {
    var multi = event.target.closest("details.multi");
    if (!multi) return;
    var shown = multi.querySelector("summary span");
    var ticked = [];
    multi.querySelectorAll("input[type=checkbox]:checked").forEach(function (box) {
      ticked.push(box.value.replace(/_/g, " "));
    });
    var op = multi.querySelector("select.op");
    var not = op && op.value === "not" && ticked.length ? "not " : "";
    shown.textContent = ticked.length ? not + ticked.join(", ") : shown.getAttribute("data-any");
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = event.target.closest && event.target.closest("details[open]");
    if (!open || !(open.classList.contains("fleet-menu") || open.classList.contains("multi"))) return;
    open.removeAttribute("open");
    open.querySelector("summary").focus();
  });
})();
