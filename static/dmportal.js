// dmportal's only script: copy buttons, keyboard shortcuts, auto-submitting selects, the header's
// menus, table labels for the phone layout, the place kept in a list on Back, and a banner when
// htmx cannot reach dmportal at all. No inline scripts (the CSP forbids them).
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

  // Copied: the button says so in words for 1.5 s (and the flash region tells a screen reader).
  function copyText(text, button) {
    function done() {
      if (!button.hasAttribute("data-copy-label")) button.setAttribute("data-copy-label", button.textContent);
      button.classList.add("copied");
      button.textContent = "Copied ✓";
      announce("Copied to the clipboard.");
      clearTimeout(button._copiedTimer);
      button._copiedTimer = setTimeout(function () {
        button.classList.remove("copied");
        button.textContent = button.getAttribute("data-copy-label");
      }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text) && done(); });
    } else if (fallbackCopy(text)) {
      done();
    }
  }

  function announce(text) {
    var region = document.getElementById("announce");
    if (!region) return;
    region.textContent = "";
    setTimeout(function () { region.textContent = text; }, 50);
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
      var menu = document.getElementById("nav-menu");
      if (search && menu && !menu.open) menu.open = true;  // a phone: the search is in the menu
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (event.key === "?") {
      event.preventDefault();
      showShortcuts();
    } else if (pendingG) {
      // The second key of a "g" sequence comes first: "g g" (device groups) starts with a "g" too.
      pendingG = false;
      var link = document.querySelector("[data-key='" + event.key + "']");
      if (link) { event.preventDefault(); link.click(); }
    } else if (event.key === "g") {
      pendingG = true;
      setTimeout(function () { pendingG = false; }, 1200);
    } else if (event.key === "Escape") {
      closeMenus(null);
    }
  });

  // -- the header's menus ------------------------------------------------------------------------
  // On a wide screen the navigation menu's content is laid out in the bar (CSS), and the menu is
  // kept open so that what is shown is also what assistive technology reads. A click outside an
  // open drop-down, or Escape, closes it.
  var wide = window.matchMedia("(min-width: 64rem)");
  var notPhone = window.matchMedia("(min-width: 40.01rem)");
  function syncNavMenu() {
    var menu = document.getElementById("nav-menu");
    if (menu) menu.open = wide.matches;
    // A list's filters: always shown beside a wide table, folded on a phone.
    if (notPhone.matches) {
      document.querySelectorAll("details.list-filters:not([open])").forEach(function (d) { d.open = true; });
    }
  }
  function closeMenus(except) {
    document.querySelectorAll("details.menu[open], details.nav-menu[open]").forEach(function (d) {
      if (d === except || d.contains(except)) return;
      if (d.classList.contains("nav-menu") && wide.matches) return;
      if (d.classList.contains("user-menu") && !wide.matches) return;
      d.open = false;
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest("details"));
  }, true);
  if (wide.addEventListener) {
    wide.addEventListener("change", syncNavMenu);
    notPhone.addEventListener("change", syncNavMenu);
  }

  // A shortened id shows the whole of itself on hover or focus (templatetags/dm.py `ident`).
  function titleIfShortened(id) {
    var head = id && id.firstElementChild;
    if (head && !id.title && head.scrollHeight > head.clientHeight + 1) id.title = id.textContent;
  }
  document.addEventListener("mouseover", function (event) {
    titleIfShortened(event.target.closest && event.target.closest("code.id"));
  });
  document.addEventListener("focusin", function (event) {
    titleIfShortened(event.target.querySelector && event.target.querySelector("code.id"));
  });

  // A long list of tick boxes (add users to a group): a search box narrows it as you type
  // (nothing is sent; a ticked box stays ticked when hidden). Hidden without this script.
  document.querySelectorAll("input[data-filter-checklist]").forEach(function (box) {
    box.hidden = false;
  });
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.matches("input[data-filter-checklist]")) return;
    var list = document.getElementById(box.getAttribute("data-filter-checklist"));
    if (!list) return;
    var words = box.value.trim().toLowerCase();
    var shown = 0, all = 0;
    Array.prototype.forEach.call(list.children, function (item) {
      var match = !words || item.textContent.toLowerCase().indexOf(words) !== -1;
      item.hidden = !match;
      all += 1;
      if (match) shown += 1;
    });
    var count = document.getElementById(box.getAttribute("aria-describedby"));
    if (count) count.textContent = words ? shown + " of " + all + " shown" : "";
  });

  // -- tables on a phone -------------------------------------------------------------------------
  // The phone layout shows each row as a card whose lines are labelled with the column names
  // (static/dmportal.css). Rows built without labels (the device list builds its rows in Python)
  // get them here from the table's header, and cells of columns marked "low" get that class.
  function labelTables(root) {
    (root || document).querySelectorAll("table.data").forEach(function (table) {
      var heads = table.querySelectorAll("thead th");
      if (!heads.length) return;
      var labels = [], low = [];
      heads.forEach(function (th) {
        labels.push(th.textContent.trim());
        low.push(th.classList.contains("low"));
      });
      table.querySelectorAll("tbody tr:not(.pager)").forEach(function (row) {
        if (row.hasAttribute("data-labelled")) return;
        row.setAttribute("data-labelled", "");
        for (var i = 0; i < row.cells.length && i < labels.length; i++) {
          var cell = row.cells[i];
          if (!cell.hasAttribute("data-label")) cell.setAttribute("data-label", labels[i]);
          if (low[i]) cell.classList.add("low");
        }
      });
    });
  }

  // -- your place in a list, kept on Back -----------------------------------------------------------
  // After "Load more", the URLs of the pages added are kept in this history entry's state (only
  // the URLs, never the rows: nothing of the page is stored), with the scroll position. Coming
  // back to the entry (Back, or a reload), the same pages are asked for again in order and the
  // scroll position is restored.
  var restoring = true;  // until the page's own place is back (ready(), below)
  function placeState() {
    var state = history.state && typeof history.state === "object" ? history.state : {};
    return state.dmPlace && state.dmPlace.href === location.href ? state.dmPlace : null;
  }
  function savePlace(change) {
    var state = history.state && typeof history.state === "object" ? Object.assign({}, history.state) : {};
    var place = placeState() || { href: location.href, more: {}, scroll: 0 };
    change(place);
    state.dmPlace = place;
    try { history.replaceState(state, ""); } catch (e) { /* too many calls: the next one keeps it */ }
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    labelTables(document);
    syncNavMenu();
    var config = event.detail.requestConfig;
    var targetId = config && config.headers && config.headers["HX-Target"];
    if (!targetId || restoring) return;
    if (/-pager$/.test(targetId)) {
      if (loadMore && loadMore.id === targetId) afterLoadMore(loadMore);
      loadMore = null;
    } else {
      announceResults(document.getElementById(targetId));
    }
  });

  // -- "Load more" and filters, for the keyboard and screen readers --------------------------------
  // The rows a "Load more" adds are not read out one by one (the list is not a live region): one
  // sentence says how many came, and the focus, which was on the link that is gone, moves to the
  // first new row. A filtered list says its count (or why it is empty) the same way.
  var loadMore = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && /-pager$/.test(target.id || "") && !event.detail.isError) {
      loadMore = { id: target.id, row: target.previousElementSibling,
                   focused: target.contains(document.activeElement) };
    }
  });
  function afterLoadMore(state) {
    var row = state.row, body = row && row.parentNode;
    if (!body) return;
    var added = 0;
    for (var r = row.nextElementSibling; r && !r.classList.contains("pager"); r = r.nextElementSibling) added += 1;
    var all = body.querySelectorAll("tr:not(.pager)").length;
    announce(added + " more row" + (added === 1 ? "" : "s") + " shown, " + all + " in all.");
    var first = row.nextElementSibling;
    var control = first && first.querySelector("a[href], button");
    if (state.focused && control) control.focus({ preventScroll: true });
  }
  function announceResults(region) {
    var results = region && (region.id === "results" ? region : region.querySelector("#results"));
    var said = results && results.querySelector(".count, .empty, .form-errors, .error-box");
    if (said) announce(said.textContent.replace(/\s+/g, " ").trim().slice(0, 300));
  }
  document.addEventListener("htmx:afterRequest", function (event) {
    // (htmx reports a swapped-out element's event on its parent: the request says which pager.)
    if (restoring || !event.detail.successful) return;
    var config = event.detail.requestConfig;
    var target = config && config.headers && config.headers["HX-Target"];
    if (!config || config.verb !== "get" || !target || !/-pager$/.test(target)) return;
    var tableId = target.replace(/-pager$/, "");
    // The browser's own scroll restoration would run before the rows are back: ours does it.
    if ("scrollRestoration" in history) history.scrollRestoration = "manual";
    savePlace(function (place) {
      place.more[tableId] = (place.more[tableId] || []).concat([config.path]);
    });
  });
  var scrollTimer = null;
  window.addEventListener("scroll", function () {
    if (restoring || !placeState()) return;
    clearTimeout(scrollTimer);
    scrollTimer = setTimeout(function () {
      savePlace(function (place) { place.scroll = window.scrollY; });
    }, 150);
  }, { passive: true });
  window.addEventListener("pagehide", function () {
    if (!restoring && placeState()) savePlace(function (place) { place.scroll = window.scrollY; });
  });
  // Resolves once `element` has left the page (its swap is done), or after ~100 frames.
  function replaced(element) {
    return new Promise(function (resolve) {
      var frames = 0;
      (function check() {
        if (!document.body.contains(element) || ++frames > 100) resolve();
        else requestAnimationFrame(check);
      })();
    });
  }
  function restorePlace() {
    var place = placeState();
    var jobs = [];
    if (place && window.htmx) {
      Object.keys(place.more).forEach(function (tableId) {
        place.more[tableId].forEach(function (url) { if (url) jobs.push([tableId, url]); });
      });
    }
    if (!jobs.length) {
      restoring = false;
      return;
    }
    if ("scrollRestoration" in history) history.scrollRestoration = "manual";
    var chain = Promise.resolve();
    jobs.forEach(function (job) {
      chain = chain.then(function () {
        var pager = document.getElementById(job[0] + "-pager");
        var link = pager && pager.querySelector("a[hx-get]");
        if (!link || link.getAttribute("hx-get") !== job[1]) throw new Error("the list changed");
        return htmx.ajax("GET", job[1], { source: link, target: pager, swap: "outerHTML" })
          .then(function () { return replaced(pager); });
      });
    });
    chain.catch(function () { /* the list is shorter now: keep what came */ }).then(function () {
      restoring = false;
      labelTables(document);
      window.scrollTo(0, place.scroll || 0);
      document.documentElement.setAttribute("data-place-restored", "");
    });
  }

  function ready() {
    syncNavMenu();
    labelTables(document);
    restorePlace();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();

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
