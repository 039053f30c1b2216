// A new key's secret is shown once. When the browser brings this page back from its
// back-forward cache (Back, then Forward), the secret must not come back with it.
(function () {
  "use strict";
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("[data-secret]").forEach(function (box) {
      box.replaceChildren();
      var p = document.createElement("p");
      p.textContent = "The new key was shown once and is no longer on this page.";
      box.appendChild(p);
    });
  });
})();
