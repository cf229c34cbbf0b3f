// chronik's service worker: keeps the app shell (index.html and the hashed js, wasm and
// css Trunk emits) in a cache so the app loads and runs with the network off. Data lives
// in IndexedDB and never goes through here.
//
// - install: fetch index.html, cache it and every same-origin asset it references;
// - navigations: network first (a new build is picked up at once), the cached
//   index.html when offline;
// - other same-origin GETs: cache first (asset names carry a content hash), fetched and
//   cached on a miss.
// When a fresh index.html arrives, assets it no longer references are dropped.

const CACHE = "chronik-shell-v1";
const INDEX = "/index.html";

/** Same-origin asset paths referenced by an index.html (src/href attributes and the
 * module script's import of the js and wasm). */
function assetsOf(html) {
  const urls = new Set();
  for (const m of html.matchAll(/(?:src|href)\s*=\s*["']([^"']+)["']|(?:import|from)\s*\(?\s*["']([^"']+)["']|module_or_path\s*:\s*["']([^"']+)["']/g)) {
    const raw = m[1] ?? m[2] ?? m[3];
    const url = new URL(raw, self.location.origin + "/");
    if (url.origin === self.location.origin && url.pathname !== "/") urls.add(url.pathname);
  }
  return [...urls];
}

async function cacheShell(response) {
  const cache = await caches.open(CACHE);
  const html = await response.clone().text();
  await cache.put(INDEX, response);
  const wanted = assetsOf(html);
  await Promise.all(
    wanted.map(async (path) => {
      if (await cache.match(path)) return;
      const asset = await fetch(path, { cache: "no-cache" });
      if (asset.ok) await cache.put(path, asset);
    }),
  );
  // Drop what the current shell no longer uses (older builds' hashed files).
  const keep = new Set([INDEX, ...wanted]);
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (!keep.has(path)) await cache.delete(request);
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    fetch("/", { cache: "no-cache" })
      .then((response) => {
        if (!response.ok) throw new Error(`index.html: HTTP ${response.status}`);
        return cacheShell(response);
      })
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

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (request.mode === "navigate") {
    // Every route of the single-page app is index.html.
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) event.waitUntil(cacheShell(response.clone()));
          return response;
        })
        .catch(async () => (await caches.match(INDEX)) ?? Response.error()),
    );
    return;
  }

  event.respondWith(
    caches.match(url.pathname).then(
      (cached) =>
        cached ??
        fetch(request).then(async (response) => {
          if (response.ok && response.type === "basic") {
            const cache = await caches.open(CACHE);
            await cache.put(url.pathname, response.clone());
          }
          return response;
        }),
    ),
  );
});
