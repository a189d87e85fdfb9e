// chaincut's service worker: keeps the residents' pages so they open offline.
//
// It keeps only what is the same for everyone (the page shells, scripts, styles, icons, the
// venue-signing keys and venue types); never an API answer about a person. Everything is asked
// of the network first, and the copy kept answers when the phone is offline.

const CACHE = "chaincut-shell-v3";
const PAGES = ["/v", "/app", "/app/visits", "/app/code", "/app/data", "/app/border", "/app/enrol"];
const FILES = [
  "/static/chaincut.css",
  "/static/resident.js",
  "/static/scanner.js",
  "/static/favicon.svg",
  "/static/icon-192.png",
  "/static/icon-512.png",
  "/static/vendor/zxing-reader.js",
  "/static/vendor/zxing_reader.wasm",
  "/static/presence.js",
  "/static/vendor/mcl.js",
  "/static/vendor/nacl-fast.min.js",
  "/manifest.webmanifest",
];
const PUBLISHED = ["/venues/signing-key", "/venues/types", "/presence/config"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll([...PAGES, ...FILES, ...PUBLISHED]))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

// The network first (a fresh page or script whenever online), else the copy kept.
async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) {
      await cache.put(key, response.clone());
      return response;
    }
    const kept = await cache.match(key);
    return kept || response; // the server failing: the copy kept, if any
  } catch (error) {
    const kept = (await cache.match(key)) || (await cache.match(key, { ignoreSearch: true }));
    if (kept) return kept;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // A page in another language (?lang=) is its own copy; the fragment never reaches here.
  if (PAGES.includes(url.pathname)) {
    event.respondWith(networkFirst(request, url.pathname + url.search));
  } else if (PUBLISHED.includes(url.pathname) || FILES.includes(url.pathname)) {
    event.respondWith(networkFirst(request, url.pathname));
  }
});
