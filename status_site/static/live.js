/* Vigie: optional live refresh. The page works fully without it.
 * Every 15 s, while the tab is visible, ask for this same page with If-None-Match;
 * on a new version, swap <main> and tell screen readers once, politely. */
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser || !document.body || !document.body.hasAttribute("data-live")) return;
  var PERIOD = 15000;
  var etag = null;
  var busy = false;
  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function announce() {
    var live = document.getElementById("live-status");
    if (!live) return;
    var when = new Date().toLocaleTimeString(document.documentElement.lang || "fr", { hour: "2-digit", minute: "2-digit" });
    live.textContent = (live.getAttribute("data-label") || "{when}").replace("{when}", when);
  }

  function swap(html) {
    var next = new DOMParser().parseFromString(html, "text/html");
    var fresh = next.querySelector("main");
    var current = document.querySelector("main");
    if (!fresh || !current) return;
    // keep what the visitor opened and where the focus is
    var open = Array.prototype.map.call(current.querySelectorAll("details[open]"), function (d) {
      var s = d.closest("[id]"); return s ? s.id : null;
    });
    var focusedId = document.activeElement && document.activeElement.id;
    current.innerHTML = fresh.innerHTML;
    open.forEach(function (id) {
      var holder = id && document.getElementById(id);
      var details = holder && holder.querySelector("details");
      if (details) details.open = true;
    });
    if (focusedId && document.getElementById(focusedId)) document.getElementById(focusedId).focus({ preventScroll: true });
    var footer = next.querySelector("footer"), oldFooter = document.querySelector("footer");
    if (footer && oldFooter) oldFooter.innerHTML = footer.innerHTML;
    if (next.title) document.title = next.title;
    if (!reduced) {
      current.classList.remove("refreshed");
      void current.offsetWidth;
      current.classList.add("refreshed");
    }
    announce();
  }

  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    var headers = { "Accept": "text/html" };
    if (etag) headers["If-None-Match"] = etag;
    fetch(window.location.href, { headers: headers, cache: "no-store", credentials: "omit" })
      .then(function (response) {
        if (response.status === 304 || !response.ok) return null;
        var tag = response.headers.get("ETag");
        var first = etag === null;
        etag = tag;
        // the first answer only learns the version the page was served with
        return first ? null : response.text();
      })
      .then(function (html) { if (html) swap(html); })
      .catch(function () { /* offline or server restarting: try again later */ })
      .then(function () { busy = false; });
  }

  poll();
  window.setInterval(poll, PERIOD);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
})();
