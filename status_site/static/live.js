/* Vigie: optional live refresh. The page works fully without it.
 * Every 15 s, while the tab is visible, ask for this same page with If-None-Match: the page
 * carries its own validators (<meta name="vigie-etag">), so an unchanged page costs a 304 from
 * the very first poll. A new version is merged into the page in place: only the nodes that
 * changed are touched, so what the reader opened, chose or focused stays as it was; the text
 * under the reader's eyes stays where it was (content that grows or shrinks above it is
 * compensated); nothing flashes. Screen readers are told once, politely. */
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser || !document.body || !document.body.hasAttribute("data-live")) return;
  var PERIOD = 15000;
  var busy = false;
  var meta = document.querySelector('meta[name="vigie-etag"]');
  var etag = meta ? meta.getAttribute("content") : null;
  // our own anchoring below replaces the browser's: the two together would move the page twice
  document.documentElement.classList.add("live-anchored");

  function announce() {
    var live = document.getElementById("live-status");
    if (!live) return;
    var when = new Date().toLocaleTimeString(document.documentElement.lang || "fr", { hour: "2-digit", minute: "2-digit" });
    live.textContent = (live.getAttribute("data-label") || "{when}").replace("{when}", when);
  }

  // -- merging a new version into the page ------------------------------------------------

  function syncAttributes(old, fresh) {
    var keepOpen = old.nodeName === "DETAILS";  // opened or closed by the reader: theirs to keep
    var i, a;
    for (i = old.attributes.length - 1; i >= 0; i--) {
      a = old.attributes[i];
      if (keepOpen && a.name === "open") continue;
      if (!fresh.hasAttribute(a.name)) old.removeAttribute(a.name);
    }
    for (i = 0; i < fresh.attributes.length; i++) {
      a = fresh.attributes[i];
      if (keepOpen && a.name === "open") continue;
      if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
    }
  }

  // what makes two elements the same one across versions: the id, else tag, class and label
  // (sections without an id differ by those: the incidents' and the operators')
  function key(node) {
    if (node.nodeType !== 1) return "#" + node.nodeType;
    return node.id ? "id:" + node.id
      : node.nodeName + "|" + (node.getAttribute("class") || "") + "|" + (node.getAttribute("aria-labelledby") || "");
  }

  function morph(old, fresh) {
    if (old.nodeType !== 1) {
      if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue;
      return;
    }
    syncAttributes(old, fresh);
    morphChildren(old, fresh);
  }

  function morphChildren(parent, freshParent) {
    var olds = Array.prototype.slice.call(parent.childNodes);
    var byId = {};
    olds.forEach(function (node) { if (node.nodeType === 1 && node.id) byId[node.id] = node; });
    var used = [];
    var next = 0;  // the next old child not yet looked at, for nodes without an id
    var fresh = Array.prototype.slice.call(freshParent.childNodes);
    var wantedIds = {};
    fresh.forEach(function (node) { if (node.nodeType === 1 && node.id) wantedIds[node.id] = true; });
    var place = parent.firstChild;
    fresh.forEach(function (node) {
      var match = null, wanted = key(node);
      if (node.nodeType === 1 && node.id) {
        match = byId[node.id] && byId[node.id].nodeName === node.nodeName ? byId[node.id] : null;
      } else {
        for (var k = next; k < olds.length; k++) {
          if (used.indexOf(olds[k]) < 0 && key(olds[k]) === wanted) { match = olds[k]; next = k + 1; break; }
        }
      }
      if (match && used.indexOf(match) < 0) {
        used.push(match);
        // old nodes left behind before the match go, rather than the match moving (a moved node loses focus)
        while (place && place !== match && used.indexOf(place) < 0 && !(place.nodeType === 1 && place.id && wantedIds[place.id])) {
          var gone = place;
          place = place.nextSibling;
          parent.removeChild(gone);
        }
        if (match !== place) parent.insertBefore(match, place);
        morph(match, node);
        place = match.nextSibling;
      } else {
        parent.insertBefore(document.importNode(node, true), place);
      }
    });
    olds.forEach(function (node) { if (used.indexOf(node) < 0 && node.parentNode === parent) parent.removeChild(node); });
  }

  // -- keeping the reader's place ----------------------------------------------------------

  function anchors() {
    // what the reader sees first: the elements that start on the screen, top first; the first
    // still there after the merge is put back where it was
    var found = [];
    var all = document.querySelectorAll("main h1, main h2, main h3, main h4, main li, main p, main article, main section, main details, main form, main table");
    for (var i = 0; i < all.length && found.length < 12; i++) {
      var box = all[i].getBoundingClientRect();
      if (box.height > 0 && box.top >= 0 && box.top < window.innerHeight) found.push({ node: all[i], top: box.top });
    }
    return found;
  }

  function hold(before) {
    for (var i = 0; i < before.length; i++) {
      if (before[i].node.isConnected) {
        var moved = before[i].node.getBoundingClientRect().top - before[i].top;
        if (moved) window.scrollBy(0, moved);
        return;
      }
    }
  }

  function values() {
    // a choice made but not sent (the profession filter) is the reader's, whatever the new version says
    return Array.prototype.map.call(document.querySelectorAll("main select, main input, main textarea"), function (field) {
      return { field: field, value: field.value, checked: field.checked };
    });
  }

  function update(html) {
    var next = new DOMParser().parseFromString(html, "text/html");
    var fresh = next.querySelector("main"), current = document.querySelector("main");
    if (!fresh || !current) return;
    var nextMeta = next.querySelector('meta[name="vigie-etag"]');
    if (meta && nextMeta && nextMeta.getAttribute("content") === meta.getAttribute("content")) return;  // same version
    var before = anchors(), fields = values();
    var focused = document.activeElement, focusedId = focused && focused.id;
    morphChildren(current, fresh);
    var footer = next.querySelector("footer"), oldFooter = document.querySelector("footer");
    if (footer && oldFooter) morphChildren(oldFooter, footer);
    fields.forEach(function (f) {
      if (!f.field.isConnected) return;
      if (f.field.type === "checkbox" || f.field.type === "radio") f.field.checked = f.checked;
      else if (f.field.value !== f.value) f.field.value = f.value;
    });
    hold(before);
    if (focused && focused !== document.body && document.activeElement !== focused) {
      var again = focused.isConnected ? focused : focusedId && document.getElementById(focusedId);
      if (again) again.focus({ preventScroll: true });
    }
    if (meta && nextMeta) meta.setAttribute("content", nextMeta.getAttribute("content"));
    if (next.title && next.title !== document.title) document.title = next.title;
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
        etag = response.headers.get("ETag") || etag;
        return response.text();
      })
      .then(function (html) { if (html) update(html); })
      .catch(function () { /* offline or server restarting: try again later */ })
      .then(function () { busy = false; });
  }

  poll();
  window.setInterval(poll, PERIOD);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
})();
