/* Crew page service worker (served at /crew-sw.js, scope /crew): keeps the page shell so that
 * /crew reloads without network. The last job itself is kept by crew.js (localStorage) and
 * queued taps are sent by crew.js when the network is back. Network first, cache as fallback:
 * online the crew always gets the current page. API calls and the stream are never cached. */
"use strict";

const CACHE = "rescue-crew-v1";
const SHELL = ["/crew", "/static/common.js", "/static/crew.js", "/static/base.css",
  "/static/crew.css"];

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin) return;
  const shell = url.pathname === "/crew" ? "/crew" : SHELL.includes(url.pathname) ? url.pathname : null;
  if (!shell) return;  // the API, the stream, the login page: straight to the network
  e.respondWith(fetch(e.request).then((r) => {
    if (r.ok && !r.redirected) { const copy = r.clone(); caches.open(CACHE).then((c) => c.put(shell, copy)); }
    return r;
  }).catch(() => caches.match(shell, { ignoreSearch: true }).then((r) => r || Response.error())));
});
