// chaincut's residents' pages: check in at a poster, keep the diary on this phone, enrol it.
//
// What is personal stays on the phone, for this origin only:
//   localStorage  "chaincut.app": {token, person} once enrolled (POST /enrolments);
//   IndexedDB     "chaincut": "visits" (the diary, by client_id) and "outbox" (check-ins and
//                 check-outs not yet sent, in the order they were made).
// A check-in is saved first and sent after, with the time it was made and its client_id, so a
// check-in made offline is sent once, late, and the server places it by when it was made.
//
// At a venue in private check-in (CrowdNotifier), nothing is sent: the visit is kept in the same
// diary, and when it ends it is sealed into one IBE ciphertext per hour (presence.js) and the
// poster's code is deleted. At a basic venue the phone then keeps nothing that names the venue; at
// a server-based one it also keeps each hour's identity, to look published warnings up by it. The
// published warnings (one signed page after another) are matched here, and kept nowhere else.

const DIARY_DAYS = 31;
const DAY_MS = 24 * 3600 * 1000;
const PREFIX = "CHAINCUT:1:";
const APP_KEY = "chaincut.app";
const KEYS_KEY = "chaincut.signing-keys";
const TYPES_KEY = "chaincut.venue-types";
const EXPOSURE_KEY = "chaincut.exposure";
const ENTRY_PREFIX = "CROWDNOTIFIER:3:";
const ENTRY_TYPE = "chaincut-crowdnotifier-entry";
const WARNINGS_TYPE = "chaincut-presence-warnings";
const PRESENCE_KEY = "chaincut.presence-config";
const PRESENCE_SEQ_KEY = "chaincut.presence-seq";
const WARNINGS_PAGE = 1000; // the server's pages are fixed blocks of this many traces
const PRESENCE_FOUND_KEY = "chaincut.presence-found";

const body = document.body;
const words = JSON.parse(document.getElementById("words").textContent);
const locale = body.dataset.lang === "zh-Hant" ? "zh-HK" : "en-GB";
const zone = body.dataset.zone;
const $ = (id) => document.getElementById(id);

// --- storage --------------------------------------------------------------------------------

export function enrolment() {
  try {
    return JSON.parse(localStorage.getItem(APP_KEY) || "null");
  } catch {
    return null;
  }
}

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("chaincut", 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("visits", { keyPath: "client_id" });
      db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

const dbReady = openDb();

async function tx(stores, mode, work) {
  const db = await dbReady;
  return new Promise((resolve, reject) => {
    const t = db.transaction(stores, mode);
    let result;
    Promise.resolve(work(t)).then((value) => {
      result = value;
    });
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

const asPromise = (request) =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

export const allVisits = () => tx(["visits"], "readonly", (t) => asPromise(t.objectStore("visits").getAll()));
// Change one visit in a transaction of its own: read and written together, so a change made
// meanwhile (the outbox marking it sent) is never overwritten by an older copy.
function updateVisit(clientId, change, item) {
  return tx(["visits", "outbox"], "readwrite", async (t) => {
    const visits = t.objectStore("visits");
    const visit = await asPromise(visits.get(clientId));
    if (visit && change(visit) !== false) {
      visits.put(visit);
      if (item) t.objectStore("outbox").add(item);
    }
  });
}

async function saveAndQueue(visit, item) {
  await tx(["visits", "outbox"], "readwrite", (t) => {
    t.objectStore("visits").put(visit);
    if (item) t.objectStore("outbox").add(item);
  });
}

// The diary keeps 31 days, as LeaveHomeSafe did: older visits are deleted from the phone.
// A private check-in goes after the policy's records_days (CrowdNotifier's phones keep 10 days).
async function forgetOldVisits() {
  const cutoff = Date.now() - DIARY_DAYS * DAY_MS;
  const visits = await allVisits();
  const config = visits.some((v) => v.mode === "crowdnotifier") ? await presenceConfig() : null;
  const privateCutoff = config ? Date.now() - config.records_days * DAY_MS : cutoff;
  const old = visits.filter((v) => {
    const ended = Date.parse(v.left_at || v.entered_at);
    return v.mode === "crowdnotifier" ? ended < privateCutoff : Date.parse(v.entered_at) < cutoff;
  });
  if (old.length) {
    await tx(["visits"], "readwrite", (t) => old.forEach((v) => t.objectStore("visits").delete(v.client_id)));
    // What a private check-in was found to have met goes with it.
    const gone = new Set(old.map((v) => v.client_id));
    const found = JSON.parse(localStorage.getItem(PRESENCE_FOUND_KEY) || "[]");
    localStorage.setItem(PRESENCE_FOUND_KEY, JSON.stringify(found.filter((f) => !gone.has(f.client_id))));
  }
}

// --- what the server publishes, kept for offline use ------------------------------------------

async function published(path, key) {
  try {
    const response = await fetch(path);
    if (response.ok) {
      const value = await response.json();
      localStorage.setItem(key, JSON.stringify(value));
      return value;
    }
  } catch {
    // offline: what was kept last time
  }
  return JSON.parse(localStorage.getItem(key) || "null");
}

// Asked once per page (then what the page got is used): the phone keeps them for offline use.
let keysOnce = null;
let typesOnce = null;
const signingKeys = () => (keysOnce = keysOnce || published("/venues/signing-key", KEYS_KEY));
let presenceConfigOnce = null;
const presenceConfig = () => (presenceConfigOnce = presenceConfigOnce || published("/presence/config", PRESENCE_KEY));

// The pairing library (mcl, WebAssembly) and secretbox are loaded only where private check-in needs them.
let presenceOnce = null;
function loadScript(src) {
  return new Promise((resolve, reject) => {
    if (document.querySelector(`script[src="${src}"]`)) return resolve();
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`${src} did not load`));
    document.head.append(script);
  });
}
export function presenceModule() {
  presenceOnce =
    presenceOnce ||
    (async () => {
      await loadScript("/static/vendor/mcl.js");
      await loadScript("/static/vendor/nacl-fast.min.js");
      const presence = await import("/static/presence.js");
      await presence.initPairing();
      return presence;
    })();
  return presenceOnce;
}

function venueTypes() {
  typesOnce =
    typesOnce ||
    published("/venues/types", TYPES_KEY).then((found) =>
      Object.fromEntries(((found && found.data) || []).map((t) => [t.name, t])),
    );
  return typesOnce;
}

// A visit's default stay: kept with it, or (checked in before the types were known) looked up now.
function stayMinutes(visit, types) {
  const known = types[visit.venue_type];
  return visit.default_stay_minutes || (known ? known.default_stay_minutes : null);
}

// --- the poster's signature, checked here (ES256 compact JWS, raw r||s as WebCrypto wants) ----

function unbase64url(segment) {
  const padded = segment.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((segment.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

export function tokenIn(scanned) {
  const text = (scanned || "").trim();
  if (text.startsWith(PREFIX)) return text;
  const at = text.indexOf("#");
  if (at >= 0) {
    let fragment;
    try {
      fragment = decodeURIComponent(text.slice(at + 1));
    } catch {
      return null; // not an address a poster holds
    }
    if (fragment.startsWith(PREFIX)) return fragment;
  }
  return null;
}

export function entryIn(scanned) {
  const text = (scanned || "").trim();
  const at = text.indexOf("#");
  let fragment = at >= 0 ? text.slice(at + 1) : text;
  try {
    fragment = decodeURIComponent(fragment);
  } catch {
    return null;
  }
  return fragment.startsWith(ENTRY_PREFIX) ? fragment : null;
}

// An ES256 JWS: the header names the key and what it signs (typ); the signature over header.payload.
async function verifiedJws(headerB64, payloadB64, signatureB64, typ) {
  const keys = await signingKeys();
  if (!keys) return { ok: false, reason: "no_key" };
  try {
    const header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(unbase64url(headerB64)));
    const jwk = keys.keys.find((k) => k.kid === header.kid);
    if (!jwk || header.alg !== "ES256" || header.typ !== typ) return { ok: false, reason: "bad_poster" };
    const key = await crypto.subtle.importKey(
      "jwk",
      { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, ext: true },
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["verify"],
    );
    const signed = new TextEncoder().encode(`${headerB64}.${payloadB64}`);
    const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, unbase64url(signatureB64), signed);
    return ok ? { ok: true } : { ok: false, reason: "bad_poster" };
  } catch {
    return { ok: false, reason: "bad_poster" };
  }
}

// A private venue's poster: its CrowdNotifier entry code, signed by the authority (a forged poster
// would make phones keep check-ins nobody could ever warn about).
export async function verifyEntry(fragment) {
  const parts = fragment.slice(ENTRY_PREFIX.length).split(".");
  if (parts.length !== 3 || !parts[1]) return { ok: false, reason: "bad_poster" };
  const checked = await verifiedJws(parts[0], parts[1], parts[2], ENTRY_TYPE);
  return checked.ok ? { ok: true, payload: unbase64url(parts[1]) } : checked;
}

export async function verifyPoster(token) {
  const keys = await signingKeys();
  if (!keys) return { ok: false, reason: "no_key" };
  try {
    const parts = token.slice(PREFIX.length).split(".");
    if (parts.length !== 3) return { ok: false, reason: "bad_poster" };
    const text = new TextDecoder("utf-8", { fatal: true });
    const header = JSON.parse(text.decode(unbase64url(parts[0])));
    const claims = JSON.parse(text.decode(unbase64url(parts[1])));
    const jwk = keys.keys.find((k) => k.kid === header.kid);
    if (!jwk || header.alg !== "ES256" || typeof claims.v !== "string" || typeof claims.t !== "string") {
      return { ok: false, reason: "bad_poster" };
    }
    const key = await crypto.subtle.importKey(
      "jwk",
      { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, ext: true },
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["verify"],
    );
    const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
    const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, unbase64url(parts[2]), signed);
    return ok ? { ok: true, claims } : { ok: false, reason: "bad_poster" };
  } catch {
    return { ok: false, reason: "bad_poster" }; // not base64, not JSON, not a key: not a poster
  }
}

// --- sending: the outbox, in order, whenever the phone is online -------------------------------

let flushing = null;
let again = false;

// Send what waits; a send asked for while one runs runs again after it (nothing is left behind).
export function flush() {
  if (flushing) {
    again = true;
    return flushing;
  }
  flushing = (async () => {
    do {
      again = false;
      await sendQueued();
    } while (again);
  })().finally(() => (flushing = null));
  return flushing;
}

async function sendQueued() {
  const app = enrolment();
  if (!app) return;
  const items = await tx(["outbox"], "readonly", (t) => asPromise(t.objectStore("outbox").getAll()));
  for (const item of items) {
    if (item.person !== app.person) {
      // Queued under another enrolment of this phone: never sent as someone else.
      await tx(["outbox"], "readwrite", (t) => t.objectStore("outbox").delete(item.seq));
      await updateVisit(item.client_id, (visit) => {
        if (visit.status !== "waiting") return false;
        visit.status = "phone_only";
      });
      continue;
    }
    let response;
    try {
      const path = item.kind === "checkin" ? "/checkins" : `/checkins/${encodeURIComponent(item.client_id)}/checkout`;
      response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${app.token}` },
        body: JSON.stringify(item.body),
      });
    } catch {
      return; // offline: again when the phone is back online (or at the next retry)
    }
    if (response.status === 401) {
      showEnrolment(words.revoked);
      return;
    }
    if (response.status === 429 || response.status >= 500) return; // at the next retry
    await tx(["visits", "outbox"], "readwrite", async (t) => {
      t.objectStore("outbox").delete(item.seq);
      const visits = t.objectStore("visits");
      const visit = await asPromise(visits.get(item.client_id));
      if (visit && item.kind === "checkin") {
        visit.status = response.ok ? "sent" : "refused";
        visits.put(visit);
      }
    });
  }
  await showVisit();
}

const pending = () => tx(["outbox"], "readonly", (t) => asPromise(t.objectStore("outbox").count()));

// --- checking in and out --------------------------------------------------------------------

export async function checkIn({ token, plate, claims }) {
  const now = new Date();
  now.setMilliseconds(0);
  const types = await venueTypes();
  const type = claims ? claims.t : "taxi";
  const app = enrolment();
  const visit = {
    client_id: crypto.randomUUID(),
    person: app ? app.person : null,
    venue_id: claims ? claims.v : null,
    venue_type: type,
    name_en: claims ? claims.en || "" : `${words.taxi} ${plate}`,
    name_zh: claims ? claims.zh || "" : "",
    plate: plate || null,
    token: token || null,
    entered_at: now.toISOString(),
    left_at: null,
    left_inferred: false,
    default_stay_minutes: types[type] ? types[type].default_stay_minutes : null,
    status: app ? "waiting" : "phone_only",
  };
  const sent = token ? { token } : { plate };
  const body = { client_id: visit.client_id, ...sent, at: visit.entered_at };
  const item = app ? { kind: "checkin", client_id: visit.client_id, person: app.person, body } : null;
  await startVisit(visit, item);
  flush();
  return visit;
}

// A new check-in ends the visit still open here, as the server ends it: where this one begins.
async function startVisit(visit, item) {
  const previous = await openVisit();
  if (previous) {
    await updateVisit(previous.client_id, (open) => {
      if (open.left_at) return false;
      open.left_at = visit.entered_at;
      open.left_inferred = true;
    });
  }
  await saveAndQueue(visit, item);
  await showVisit();
}

async function openVisit() {
  const visits = await allVisits();
  return visits.filter((v) => !v.left_at).sort((a, b) => b.entered_at.localeCompare(a.entered_at))[0] || null;
}

// A stay nobody ended ends after the venue type's default stay, as the server ends it too.
async function endOverdueStays() {
  const types = await venueTypes();
  for (const open of (await allVisits()).filter((v) => !v.left_at)) {
    const stay = stayMinutes(open, types);
    const ends = stay ? Date.parse(open.entered_at) + stay * 60000 : null;
    if (ends !== null && Date.now() >= ends) {
      await updateVisit(open.client_id, (visit) => {
        if (visit.left_at) return false;
        visit.left_at = new Date(ends).toISOString();
        visit.left_inferred = true;
      });
    }
  }
}

export async function leave() {
  const open = await openVisit();
  if (!open) return;
  const now = new Date();
  now.setMilliseconds(0);
  const app = enrolment();
  let left = null;
  await updateVisit(open.client_id, (visit) => {
    if (visit.left_at) return false;
    visit.left_at = now.toISOString();
    left = visit;
  }, null);
  const queued = left && app && left.person === app.person && (left.status === "waiting" || left.status === "sent");
  if (queued) {
    const item = { kind: "checkout", client_id: left.client_id, person: app.person, body: { at: left.left_at } };
    await tx(["outbox"], "readwrite", (t) => t.objectStore("outbox").add(item));
  }
  await showVisit(left || undefined);
  flush();
}

// --- the exposure check, on the phone: the server sends everyone the same list ------------------

const normalPlate = (plate) => (plate || "").toUpperCase().replace(/[^A-Z0-9]/g, "");

function overlapMinutes(visit, risky, types) {
  const entered = Date.parse(visit.entered_at);
  const stay = (stayMinutes(visit, types) || 0) * 60000;
  const left = visit.left_at ? Date.parse(visit.left_at) : Math.min(Date.now(), entered + stay);
  return (Math.min(left, Date.parse(risky.end)) - Math.max(entered, Date.parse(risky.start))) / 60000;
}

export function matchExposures(visits, risky, types) {
  const matches = [];
  for (const visit of visits) {
    for (const r of risky) {
      const same = visit.venue_id ? visit.venue_id === r.venue_id : Boolean(r.plate) && normalPlate(visit.plate) === normalPlate(r.plate);
      const overlap = same ? overlapMinutes(visit, r, types) : -1;
      if (same && overlap > 0 && overlap >= r.min_overlap_minutes) {
        matches.push({ client_id: visit.client_id, name_en: r.name_en, name_zh: r.name_zh, start: r.start, end: r.end });
      }
    }
  }
  return matches;
}

// Once a day (or when asked): the last 31 days' list, matched here; the result stays on the phone.
async function checkExposure(force) {
  const app = enrolment();
  const kept = JSON.parse(localStorage.getItem(EXPOSURE_KEY) || "null");
  const hasPrivate = (await allVisits()).some((v) => v.mode === "crowdnotifier");
  if ((!app && !hasPrivate) || (!force && kept && Date.now() - Date.parse(kept.checked_at) < DAY_MS)) return kept;
  const to = new Date();
  let risky = { data: [], test_within_days: kept ? kept.test_within_days : null };
  if (app) {
    const from = new Date(to.getTime() - DIARY_DAYS * DAY_MS);
    const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
    const response = await fetch(`/risky-venues?${query}`, { headers: { Authorization: `Bearer ${app.token}` } });
    if (!response.ok) throw new Error(String(response.status));
    risky = await response.json();
  }
  const privately = await checkPrivateExposures();
  const result = {
    checked_at: to.toISOString(),
    matches: [...matchExposures(await allVisits(), risky.data, await venueTypes()), ...privately],
    test_within_days: risky.test_within_days,
  };
  localStorage.setItem(EXPOSURE_KEY, JSON.stringify(result));
  return result;
}

function showExposure(result) {
  const status = $("exposure-status");
  if (!status) return;
  const list = $("exposure-matches");
  list.replaceChildren();
  $("exposure-advice").hidden = true;
  $("exposure").classList.remove("alert");
  if (!result) {
    status.textContent = words.exposure_never;
    return;
  }
  if (!result.matches.length) {
    status.textContent = words.exposure_none.replace("{time}", `${dayOf(result.checked_at)} ${timeOf(result.checked_at)}`);
    return;
  }
  status.textContent = words.exposure_match;
  $("exposure").classList.add("alert");
  for (const m of result.matches) {
    const item = document.createElement("li");
    const name = (body.dataset.lang === "zh-Hant" ? m.name_zh || m.name_en : m.name_en || m.name_zh) || words.private_place;
    item.textContent = `${name} · ${dayOf(m.start)} ${timeOf(m.start)}–${timeOf(m.end)}`;
    if (m.message) {
      const message = document.createElement("p");
      message.className = "exposure-message";
      message.textContent = m.message; // the health authority's own words, decrypted on this phone
      item.append(message);
    }
    if (m.seq) item.append(reportControl(m));
    list.append(item);
  }
  const advice = $("exposure-test");
  if (result.test_within_days) {
    advice.textContent = advice.dataset.template.replace("{days}", String(result.test_within_days));
    $("exposure-advice").hidden = false;
  }
}

// A private match stays on the phone unless its owner reports it; then the health code's risky-visit
// rule applies to them, as to a visitor checked in centrally. Only an enrolled phone can.
function reportControl(match) {
  const box = document.createElement("div");
  box.className = "exposure-report";
  const note = document.createElement("p");
  note.setAttribute("role", "status");
  if (match.reported) {
    note.textContent = words.reported;
    box.append(note);
    return box;
  }
  const app = enrolment();
  note.textContent = app ? words.report_hint : words.report_enrol;
  if (app) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = words.report;
    button.addEventListener("click", async () => {
      button.disabled = true;
      note.textContent = await reportMatch(app, match);
      if (match.reported) button.remove();
      else button.disabled = false;
    });
    box.append(button);
  }
  box.append(note);
  return box;
}

async function reportMatch(app, match) {
  const body = {
    person: app.person,
    seq: match.seq,
    notification_key: match.notification_key,
    arrival: match.arrival,
    departure: match.departure,
  };
  let response;
  try {
    response = await bridged("/presence/reports", app, body);
  } catch {
    return words.offline;
  }
  if (!response.ok) return words.report_failed;
  // Remembered on the phone, so the button does not come back.
  for (const key of [PRESENCE_FOUND_KEY, EXPOSURE_KEY]) {
    const kept = JSON.parse(localStorage.getItem(key) || "null");
    const list = Array.isArray(kept) ? kept : kept?.matches || [];
    for (const m of list) if (m.seq === match.seq && m.key === match.key) m.reported = true;
    localStorage.setItem(key, JSON.stringify(kept));
  }
  match.reported = true;
  return words.reported;
}

// --- bridging, padded, and the dummies that hide it -------------------------------------------------

// Every share and report, real or dummy, is padded to a multiple of 4 KiB; the server answers each
// with 2,048 bytes. On the wire, its size tells nothing.
const PAD_BYTES = 4096;
function padded(body, atLeast = 0) {
  const bare = new TextEncoder().encode(JSON.stringify({ ...body, padding: "" })).length;
  const size = Math.max(atLeast, Math.ceil(bare / PAD_BYTES) * PAD_BYTES);
  return JSON.stringify({ ...body, padding: "=".repeat(size - bare) });
}

function bridged(path, app, body, { fake = false, atLeast = 0 } = {}) {
  // Real ones say 0 and dummies 1: the header is there, and the same size, on both.
  const headers = { "Content-Type": "application/json", Authorization: `Bearer ${app.token}`, "Chaincut-Fake": fake ? "1" : "0" };
  return fetch(path, { method: "POST", headers, body: padded(body, atLeast) });
}

// Now and then while a page is open on an enrolled phone (the policy's rate, at random moments), a
// dummy share or report goes out; the server answers it alike, after about as long, and forgets it.
function sendDummies() {
  const app = enrolment();
  if (!app) return;
  presenceConfig()
    .then((config) => {
      const perHour = config ? Number(config.dummy_requests_per_hour) : 0;
      if (!(perHour > 0)) return;
      const next = () => {
        const wait = (-Math.log(1 - Math.random()) * 3600000) / perHour;
        setTimeout(async () => {
          const now = new Date().toISOString();
          const report = Math.random() < 0.5;
          const key = b64(crypto.getRandomValues(new Uint8Array(32)));
          const body = report
            ? { person: app.person, seq: 1, notification_key: key, arrival: now, departure: now }
            : { person: app.person, visits: [] };
          const atLeast = report ? 0 : PAD_BYTES * (1 + Math.floor(Math.random() * 3));
          await bridged(report ? "/presence/reports" : "/presence/shared-visits", app, body, { fake: true, atLeast }).catch(() => {});
          next();
        }, wait);
      };
      next();
    })
    .catch(() => {});
}

async function runExposureCheck(force) {
  try {
    showExposure(await checkExposure(force));
  } catch {
    showExposure(JSON.parse(localStorage.getItem(EXPOSURE_KEY) || "null"));
    const status = $("exposure-status");
    if (status) status.textContent = words.exposure_failed;
  }
}

// --- private check-in (CrowdNotifier): nothing is sent, the phone finds out by itself ----------

const seconds = (iso) => Math.floor(Date.parse(iso) / 1000);
// In slices: a page of warnings is hundreds of kilobytes, more arguments than a call may take.
function b64(bytes) {
  let text = "";
  for (let at = 0; at < bytes.length; at += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(at, at + 0x8000));
  }
  return btoa(text);
}
const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export async function checkInPrivately({ payload, venue, type, serverBased }) {
  const config = await presenceConfig();
  const now = new Date();
  now.setMilliseconds(0);
  const day = Math.floor(now.getTime() / DAY_MS);
  const today = (await allVisits()).filter(
    (v) => v.mode === "crowdnotifier" && Math.floor(Date.parse(v.entered_at) / DAY_MS) === day,
  );
  if (config && today.length >= config.max_checkins_per_day) return null;
  const types = await venueTypes();
  const visit = {
    client_id: crypto.randomUUID(),
    person: enrolment()?.person ?? null, // whose phone it was then: a share sends only that person's
    mode: "crowdnotifier",
    server_based: serverBased,
    payload: b64(payload), // until the visit ends and is sealed
    venue_id: null,
    venue_type: type,
    name_en: venue.description,
    name_zh: "",
    plate: null,
    token: null,
    entered_at: now.toISOString(),
    left_at: null,
    left_inferred: false,
    default_stay_minutes: types[type] ? types[type].default_stay_minutes : null,
    status: "private",
  };
  await startVisit(visit, null);
  return visit;
}

// An ended private visit becomes one ciphertext per hour it touched; the poster's code goes. At a
// basic venue its name goes too: nothing kept then tells where the phone was. At a server-based venue
// the phone keeps the pre-identity and each hour's time key and identity, as the techspec's
// server-based clients do: traces are found by identity, and a case may choose to share the visit.
async function sealPrivateVisits() {
  const ended = (await allVisits()).filter((v) => v.mode === "crowdnotifier" && v.left_at && v.payload);
  if (!ended.length) return;
  const presence = await presenceModule();
  for (const visit of ended) {
    const payload = unb64(visit.payload);
    const sealed = await presence.checkIn(payload, seconds(visit.entered_at), seconds(visit.left_at));
    let identities = null;
    let share = null;
    if (visit.server_based) {
      const nonces = await presence.deriveNonces(payload);
      const preId = await presence.preIdentity(payload, nonces);
      identities = {};
      share = { pre_id: b64(preId), time_keys: {} };
      for (const { hour } of sealed) {
        const key = await presence.timeKey(hour, nonces);
        share.time_keys[hour] = b64(key);
        identities[hour] = hex(await presence.identityOf(preId, hour, key));
      }
    }
    await updateVisit(visit.client_id, (v) => {
      if (!v.payload) return false;
      delete v.payload;
      v.records = sealed.map(({ hour, record }) => ({ hour, record: b64(record) }));
      v.identities = identities;
      v.share = share;
      if (!v.server_based) v.name_en = "";
    });
  }
}

async function verifiedPage(response) {
  const bytes = new Uint8Array(await response.arrayBuffer());
  const parts = (response.headers.get("Chaincut-Signature") || "").split(".");
  const bodyB64 = b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const checked = parts.length === 3 && !parts[1] ? await verifiedJws(parts[0], bodyB64, parts[2], WARNINGS_TYPE) : { ok: false };
  return checked.ok ? JSON.parse(new TextDecoder().decode(bytes)) : null;
}

// The warnings published since the last check, page by page, matched against the sealed visits: a
// server-based visit by its hours' identities, a basic one by trying the traces of its hours whose
// window overlaps it (a pairing each). A page whose signature fails is ignored, and asked again next time.
// One check at a time: a check asked for while one runs starts after it, from where it ended.
let privateCheck = Promise.resolve();
export function checkPrivateExposures() {
  const next = privateCheck.catch(() => {}).then(checkPrivateExposuresNow);
  privateCheck = next;
  return next;
}

async function checkPrivateExposuresNow() {
  // A stay that ended (by hand or by itself) is sealed first, whatever page runs the check.
  await endOverdueStays();
  await sealPrivateVisits().catch(() => {});
  const kept = (await allVisits()).filter((v) => v.mode === "crowdnotifier");
  const sealed = kept.filter((v) => v.records);
  // While a private visit is open (or could not be sealed), the pages are matched but not passed:
  // the next check reads them again, for that visit too (what was found is not found twice).
  const holdBack = kept.some((v) => !v.records);
  const start = Number(localStorage.getItem(PRESENCE_SEQ_KEY) || 0);
  let since = start;
  const found = JSON.parse(localStorage.getItem(PRESENCE_FOUND_KEY) || "[]");
  for (;;) {
    // Revalidated (ETag): a page kept from a minute ago may have grown since. Asked by its block's
    // first number, as every phone asks, so that a cache in front keeps one copy of each page.
    const block = since - (since % WARNINGS_PAGE);
    const response = await fetch(`/presence/warnings?since=${block}`, { cache: "no-cache" });
    if (!response.ok) throw new Error(String(response.status));
    const page = await verifiedPage(response);
    if (!page) {
      console.warn(`chaincut: ignored the warnings after ${since}: the page's signature does not check`);
      break;
    }
    const fresh = page.data.filter((item) => item.seq > since);
    if (sealed.length && fresh.length) {
      const presence = await presenceModule();
      const visits = sealed.map((v) => ({
        id: v.client_id,
        arrival: seconds(v.entered_at),
        departure: seconds(v.left_at),
        records: Object.fromEntries(v.records.map((r) => [r.hour, unb64(r.record)])),
        identities: v.identities,
      }));
      const items = fresh.map((item) => ({ seq: item.seq, hour: item.hour, trace: unb64(item.trace) }));
      const seen = new Set(found.map((f) => f.key));
      for (const hit of await presence.matchTraces(visits, items, seen)) {
        const visit = sealed.find((v) => v.client_id === hit.visit);
        found.push({
          key: `${hit.visit}:${hit.traceStart}:${hit.traceEnd}`,
          client_id: hit.visit,
          name_en: visit ? visit.name_en : "",
          start: new Date(hit.traceStart * 1000).toISOString(),
          end: new Date(hit.traceEnd * 1000).toISOString(),
          message: hit.message,
          // What a report sends, if the person chooses to: the trace's number, the key from this
          // phone's own record, and the stay.
          seq: hit.seq,
          notification_key: b64(hit.notificationKey),
          arrival: new Date(hit.arrival * 1000).toISOString(),
          departure: new Date(hit.departure * 1000).toISOString(),
        });
      }
    }
    since = Math.max(since, page.next);
    localStorage.setItem(PRESENCE_SEQ_KEY, String(holdBack ? start : since));
    localStorage.setItem(PRESENCE_FOUND_KEY, JSON.stringify(found));
    if (!page.more) break;
  }
  return found;
}

async function privateCheckinPage(entry) {
  const status = $("poster-status");
  const verified = await verifyEntry(entry);
  if (!verified.ok) {
    status.textContent = words[verified.reason];
    status.classList.add("problem");
    return;
  }
  let presence;
  let venue;
  try {
    presence = await presenceModule();
  } catch {
    status.textContent = words.no_pairing;
    status.classList.add("problem");
    return;
  }
  try {
    venue = presence.decodeEntryPayload(verified.payload);
  } catch {
    status.textContent = words.bad_poster;
    status.classList.add("problem");
    return;
  }
  const now = Date.now() / 1000;
  if (now < venue.validFrom || now > venue.validTo) {
    status.textContent = words.entry_expired;
    status.classList.add("problem");
    return;
  }
  let type = "other";
  try {
    type = JSON.parse(new TextDecoder().decode(venue.countryData) || "{}").t || type;
  } catch {
    // another authority's code: no venue type
  }
  const config = await presenceConfig();
  const serverBased = Boolean(config) && b64(venue.publicKey).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") === config.master_public_key;
  const types = await venueTypes();
  status.textContent = "";
  status.hidden = true;
  $("venue-kind").textContent = types[type] ? (body.dataset.lang === "zh-Hant" ? types[type].label_zh : types[type].label_en) : "";
  $("venue-name-en").textContent = venue.description;
  $("venue-name-zh").textContent = venue.address === "-" ? "" : venue.address; // "-": registered without one
  $("venue").hidden = false;
  $("enrolment-note").textContent = words.private_note;
  const button = $("check-in");
  button.addEventListener("click", async () => {
    button.disabled = true;
    const visit = await checkInPrivately({ payload: verified.payload, venue, type, serverBased });
    if (!visit) {
      $("enrolment-note").textContent = words.checkin_cap;
      return;
    }
    $("venue").hidden = true;
    history.replaceState(null, "", location.pathname + location.search); // the code leaves the address bar
  });
}

// --- showing ----------------------------------------------------------------------------------

const timeOf = (iso) => new Date(iso).toLocaleTimeString(locale, { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const dayOf = (iso) => new Date(iso).toLocaleDateString(locale, { timeZone: zone, weekday: "short", day: "numeric", month: "short" });

function elapsed(fromIso, untilIso) {
  const until = untilIso ? Date.parse(untilIso) : Date.now();
  const seconds = Math.max(0, Math.floor((until - Date.parse(fromIso)) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0");
  return `${h ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

let ticking = null;
let shownHere = null; // the visit this page shows: still shown, as left, once it ends (by hand or not)

async function showVisit(justLeft) {
  const card = $("visit");
  if (!card) return;
  await endOverdueStays();
  await sealPrivateVisits().catch(() => {}); // again at the next showing, if the pairing could not load
  if (justLeft) shownHere = justLeft.client_id;
  let visit = await openVisit();
  if (visit) shownHere = visit.client_id;
  else if (shownHere) visit = (await allVisits()).find((v) => v.client_id === shownHere) || null;
  const stay = visit ? stayMinutes(visit, await venueTypes()) : null;
  clearInterval(ticking);
  if (!visit) {
    card.hidden = true;
    return;
  }
  card.hidden = false;
  $("visit-name-en").textContent = visit.name_en || words.private_place;
  $("visit-name-zh").textContent = visit.name_zh;
  $("visit-since").textContent = timeOf(visit.entered_at);
  $("visit-since").dateTime = visit.entered_at;
  $("visit-sync").textContent = words[visit.status];
  $("visit-sync").dataset.status = visit.status;
  if (visit.left_at) {
    $("visit-heading").textContent = visit.left_inferred ? words.left_auto : words.left;
    $("timer").textContent = elapsed(visit.entered_at, visit.left_at);
    $("leave").hidden = true;
    $("visit-auto").textContent = "";
    return;
  }
  $("visit-heading").textContent = words.checked_in;
  $("leave").hidden = false;
  $("visit-auto").textContent = stay ? autoLeaveNote(visit, stay) : "";
  const tick = () => {
    $("timer").textContent = elapsed(visit.entered_at);
    if (stay && Date.now() >= Date.parse(visit.entered_at) + stay * 60000) showVisit();
  };
  tick();
  ticking = setInterval(tick, 1000);
}

function autoLeaveNote(visit, stay) {
  const ends = new Date(Date.parse(visit.entered_at) + stay * 60000).toISOString();
  return $("visit-auto").dataset.template.replace("{time}", timeOf(ends));
}

function showEnrolment(message) {
  const note = $("enrolment-note");
  if (note) note.textContent = message || (enrolment() ? words.enrolled : words.not_enrolled);
}

function showConnection() {
  const note = $("offline-note");
  if (note) note.hidden = navigator.onLine;
}

// --- pages ------------------------------------------------------------------------------------

async function checkinPage() {
  const status = $("poster-status");
  const entry = entryIn(location.hash.slice(1));
  if (entry) return privateCheckinPage(entry);
  const token = tokenIn(location.hash.slice(1));
  if (!token) {
    status.textContent = words.no_poster;
    return;
  }
  const result = await verifyPoster(token);
  if (!result.ok) {
    status.textContent = words[result.reason];
    status.classList.add("problem");
    return;
  }
  const claims = result.claims;
  const types = await venueTypes();
  const type = types[claims.t];
  status.textContent = "";
  status.hidden = true;
  $("venue-kind").textContent = type ? (body.dataset.lang === "zh-Hant" ? type.label_zh : type.label_en) : claims.t;
  $("venue-name-en").textContent = claims.en || claims.v;
  $("venue-name-zh").textContent = claims.zh || "";
  $("venue").hidden = false;
  const button = $("check-in");
  button.addEventListener("click", async () => {
    button.disabled = true;
    await checkIn({ token, claims });
    $("venue").hidden = true;
    history.replaceState(null, "", location.pathname + location.search); // the token leaves the address bar
  });
}

async function homePage() {
  const start = $("scan-start");
  start.addEventListener("click", async () => {
    const { scan } = await import("/static/scanner.js");
    $("scanner").hidden = false;
    start.hidden = true;
    const scanStatus = $("scan-status");
    scanStatus.textContent = words.scanning;
    try {
      const known = (seen) => tokenIn(seen) || entryIn(seen);
      const text = await scan($("scan-video"), $("scan-stop"), (seen) => {
        if (!known(seen)) scanStatus.textContent = words.not_chaincut;
        return Boolean(known(seen));
      });
      if (text) location.assign(`/v#${known(text)}`);
    } catch {
      scanStatus.textContent = words.camera_failed;
    } finally {
      start.hidden = false;
    }
  });
  $("scan-stop").addEventListener("click", () => {
    $("scanner").hidden = true;
  });
  $("taxi-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const plate = $("plate").value.trim().toUpperCase();
    if (!plate) {
      $("taxi-status").textContent = words.plate_needed;
      return;
    }
    await checkIn({ plate });
    $("plate").value = "";
    $("taxi-status").textContent = "";
  });
}

async function visitsPage() {
  const list = $("diary");
  const visits = (await allVisits()).sort((a, b) => b.entered_at.localeCompare(a.entered_at));
  list.replaceChildren();
  if (!visits.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = words.no_visits;
    list.append(empty);
  }
  for (const v of visits) {
    const item = document.createElement("li");
    item.dataset.clientId = v.client_id;
    const names = document.createElement("p");
    names.className = "diary-venue";
    const en = document.createElement("span");
    en.lang = "en";
    en.textContent = v.name_en || words.private_place;
    const zh = document.createElement("span");
    zh.lang = "zh-Hant";
    zh.textContent = v.name_zh;
    names.append(en, " ", zh);
    const when = document.createElement("p");
    when.className = "diary-when";
    when.textContent = `${dayOf(v.entered_at)} ${timeOf(v.entered_at)}–${v.left_at ? timeOf(v.left_at) : "…"}`;
    const status = document.createElement("p");
    status.className = "diary-status";
    status.dataset.status = v.status;
    status.textContent = words[v.status];
    item.append(names, when, status);
    list.append(item);
  }
  $("exposure-check").addEventListener("click", () => runExposureCheck(true));
  $("share").addEventListener("click", async () => {
    $("share-status").textContent = await sharePrivateVisits();
  });
  await runExposureCheck(false);
  $("upload").addEventListener("click", async () => {
    const out = $("upload-status");
    const app = enrolment();
    if (!app) {
      out.textContent = words.not_enrolled;
      return;
    }
    // The phone's own visits and those made while it was enrolled as this person; never another's.
    // Private check-ins are never part of it: they leave the phone only by the person's own choice.
    const mine = (await allVisits()).filter(
      (v) => v.mode !== "crowdnotifier" && (!v.person || v.person === app.person),
    );
    const records = mine.map((v) => ({
      ...(v.plate ? { plate: v.plate } : { token: v.token }),
      entered_at: v.entered_at,
      left_at: v.left_at,
      client_id: v.client_id,
    }));
    if (!records.length) {
      out.textContent = words.nothing_to_upload;
      return;
    }
    try {
      const response = await fetch(`/people/${encodeURIComponent(app.person)}/visit-history`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${app.token}` },
        body: JSON.stringify({ visits: records }),
      });
      out.textContent = response.ok ? words.uploaded : words.upload_failed;
    } catch {
      out.textContent = words.offline;
    }
  });
}

// A case's choice: send the private check-ins at server-based venues (their pre-identity, times and
// hours' time keys). A basic venue's visit left nothing on the phone that says where it was.
async function sharePrivateVisits() {
  const app = enrolment();
  if (!app) return words.not_enrolled;
  await sealPrivateVisits().catch(() => {});
  const visits = (await allVisits())
    .filter((v) => v.mode === "crowdnotifier" && v.share && v.left_at && (!v.person || v.person === app.person))
    .map((v) => ({
      pre_id: v.share.pre_id,
      arrival: v.entered_at,
      departure: v.left_at,
      hours: Object.entries(v.share.time_keys).map(([start, key]) => ({ start: Number(start), time_key: key })),
    }));
  if (!visits.length) return words.nothing_to_share;
  let response;
  try {
    response = await bridged("/presence/shared-visits", app, { person: app.person, visits });
  } catch {
    return words.offline;
  }
  if (response.status === 409) return words.share_not_case;
  if (!response.ok) return words.upload_failed;
  const receipt = await response.json();
  return words.shared.replace("{n}", String(receipt.stored + receipt.already_stored));
}

async function enrolPage() {
  const code = $("code");
  let fromQr = "";
  try {
    fromQr = decodeURIComponent(location.hash.slice(1));
  } catch {
    // not a code: the person types it
  }
  if (fromQr) {
    code.value = fromQr;
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("enrol-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = $("enrol-status");
    try {
      const response = await fetch("/enrolments", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ code: code.value }),
      });
      if (!response.ok) {
        out.textContent = words.enrol_failed;
        return;
      }
      const enrolled = await response.json();
      localStorage.setItem(APP_KEY, JSON.stringify({ token: enrolled.token, person: enrolled.person }));
      code.value = "";
      out.textContent = "";
      showEnrolment();
      flush();
    } catch {
      out.textContent = words.offline;
    }
  });
  $("forget").addEventListener("click", async () => {
    // What was the enrolled person's to send or see goes with the token; the diary stays the phone's.
    localStorage.removeItem(APP_KEY);
    localStorage.removeItem(EXPOSURE_KEY);
    localStorage.removeItem("chaincut.checkpoints");
    await tx(["visits", "outbox"], "readwrite", async (t) => {
      t.objectStore("outbox").clear();
      const visits = t.objectStore("visits");
      for (const visit of await asPromise(visits.getAll())) {
        if (visit.status === "waiting") {
          visit.status = "phone_only"; // never to be sent now: it stays in the diary
          visits.put(visit);
        }
      }
    });
    showEnrolment(words.forgotten);
  });
}

async function codePage() {
  const status = $("code-status");
  const card = $("code-card");
  const fetchCode = async () => {
    const app = enrolment();
    if (!app) {
      status.textContent = words.enrol_first;
      return;
    }
    try {
      const response = await fetch("/app/code/card", { headers: { Authorization: `Bearer ${app.token}` } });
      if (response.status === 401) {
        status.textContent = words.revoked;
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      // The server's own escaped HTML (Jinja autoescaping): the colour, reasons and signed QR code.
      const part = document.createElement("template");
      part.innerHTML = await response.text();
      card.replaceChildren(part.content);
      status.textContent = "";
      status.hidden = true;
    } catch {
      status.hidden = false;
      status.textContent = words.code_failed;
    }
  };
  $("code-refresh").addEventListener("click", fetchCode);
  await fetchCode();
}

async function dataPage() {
  const status = $("data-status");
  const app = enrolment();
  if (!app) {
    status.textContent = words.enrol_first;
    return;
  }
  try {
    const response = await fetch("/app/data/report", { headers: { Authorization: `Bearer ${app.token}` } });
    if (!response.ok) throw new Error(String(response.status));
    const part = document.createElement("template");
    part.innerHTML = await response.text(); // escaped by the server, value by value
    $("data-report").replaceChildren(part.content);
    // Wide tables scroll in their own boxes: reachable by keyboard to scroll them.
    for (const table of $("data-report").querySelectorAll("table")) table.tabIndex = 0;
    status.hidden = true;
    $("data-print").hidden = false;
    $("data-print").addEventListener("click", () => window.print());
  } catch {
    status.textContent = words.data_failed;
  }
}

// --- border crossings ---------------------------------------------------------------------------

const slotName = (slot) => words[`slot_${slot}`] || slot;

async function api(path, options = {}) {
  const app = enrolment();
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${app.token}` };
  if (options.body) headers["Content-Type"] = "application/json";
  return fetch(path, { ...options, headers });
}

function localDay(offsetDays) {
  const day = new Date(Date.now() + offsetDays * DAY_MS);
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
  const field = Object.fromEntries(parts.formatToParts(day).map((p) => [p.type, p.value]));
  return `${field.year}-${field.month}-${field.day}`; // the day in the authority's zone
}

async function showBookings() {
  const list = $("my-bookings");
  const response = await api("/border/my-bookings");
  if (!response.ok) throw new Error(String(response.status));
  const found = (await response.json()).data;
  list.replaceChildren();
  if (!found.length) {
    const none = document.createElement("li");
    none.textContent = words.no_bookings;
    list.append(none);
  }
  const names = JSON.parse(localStorage.getItem("chaincut.checkpoints") || "{}");
  for (const b of found) {
    const item = document.createElement("li");
    item.dataset.id = b.id;
    item.dataset.status = b.status;
    const point = names[b.checkpoint] || b.checkpoint;
    const travellers = b.travellers > 1 ? ` · ${words.travellers.replace("{n}", b.travellers)}` : "";
    const line = document.createElement("p");
    line.textContent = `${b.day} · ${point} · ${slotName(b.slot)}${travellers}`;
    const state = document.createElement("p");
    state.className = "booking-status";
    state.textContent = words[`status_${b.status}`] || b.status;
    item.append(line, state);
    if (b.kind === "booking" && b.status === "booked") {
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "secondary";
      cancel.textContent = words.cancel;
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        await api(`/border/bookings/${encodeURIComponent(b.id)}`, { method: "DELETE" });
        await showBookings();
        await showSlots();
      });
      item.append(cancel);
    }
    list.append(item);
  }
}

async function showSlots() {
  const day = $("book-day").value;
  const box = $("book-slots");
  box.querySelectorAll(".slot").forEach((node) => node.remove());
  const status = $("slots-status");
  status.textContent = "";
  if (!day) return;
  const response = await api(`/border/slots?day=${encodeURIComponent(day)}`);
  const slots = response.ok ? (await response.json()).data : [];
  if (!slots.length) status.textContent = words.no_slots;
  const names = {};
  slots.forEach((s, index) => {
    const name = body.dataset.lang === "zh-Hant" ? s.name_zh : s.name_en;
    names[s.checkpoint] = name;
    const label = document.createElement("label");
    label.className = "slot";
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "slot";
    radio.required = true;
    radio.value = `${s.checkpoint}|${s.slot}`;
    radio.id = `slot-${index}`;
    radio.disabled = s.remaining <= 0;
    const seats = s.remaining > 0 ? words.seats_left.replace("{n}", s.remaining) : words.full;
    label.append(radio, ` ${name} · ${slotName(s.slot)} (${seats})`);
    box.append(label);
  });
  localStorage.setItem("chaincut.checkpoints", JSON.stringify(names));
}

async function borderPage() {
  const status = $("border-status");
  if (!enrolment()) {
    status.textContent = words.enrol_first;
    $("book-form").hidden = true;
    return;
  }
  const dayInput = $("book-day");
  dayInput.min = localDay(0);
  dayInput.value = localDay(1);
  dayInput.addEventListener("change", showSlots);
  const companions = $("companions");
  $("add-companion").addEventListener("click", () => {
    const added = $("companion-template").content.firstElementChild.cloneNode(true);
    added.querySelector(".remove-companion").addEventListener("click", () => added.remove());
    companions.append(added);
    added.querySelector("input").focus();
  });
  $("book-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = $("book-result");
    const chosen = document.querySelector("input[name=slot]:checked");
    if (!chosen) {
      out.textContent = words.choose_slot;
      out.classList.add("problem");
      return;
    }
    const [checkpoint, slot] = chosen.value.split("|");
    const request = {
      request_id: crypto.randomUUID(),
      id_document: $("book-document").value.trim(),
      day: dayInput.value,
      checkpoint,
      slot,
      companions: [...companions.querySelectorAll("input")].map((input) => input.value.trim()),
    };
    try {
      const response = await api("/border/bookings", { method: "POST", body: JSON.stringify(request) });
      const answer = await response.json();
      if (response.ok) {
        out.textContent = response.status === 202 ? words.entered : words.booked;
        out.classList.remove("problem");
        companions.replaceChildren();
      } else {
        out.textContent = words.book_failed.replace("{reason}", answer.message || response.status);
        out.classList.add("problem");
      }
      await showBookings();
      await showSlots();
    } catch {
      out.textContent = words.offline;
    }
  });
  try {
    await showSlots();
    await showBookings();
  } catch {
    status.textContent = words.offline;
  }
}

// --- a venue's entrance kiosk: a tablet checks visitors in by the health code on their phones ----

const KIOSK_KEY = "chaincut.kiosk";

async function kioskSetUp(deviceToken) {
  const headers = { Authorization: `Bearer ${deviceToken}` };
  const own = await fetch("/venues", { headers });
  if (!own.ok) throw new Error(String(own.status));
  const venue = (await own.json()).data[0];
  if (venue.checkin_mode === "crowdnotifier") {
    // A decentralised venue whose code changes daily: this screen shows the code of the day.
    const display = { token: deviceToken, display: true, ref: venue.ref, name_en: venue.name_en, name_zh: venue.name_zh };
    localStorage.setItem(KIOSK_KEY, JSON.stringify(display));
    return display;
  }
  const issued = await fetch(`/venues/${encodeURIComponent(venue.ref)}/token`, { headers });
  if (!issued.ok) throw new Error(String(issued.status));
  const kiosk = { token: deviceToken, venue_token: (await issued.json()).token, name_en: venue.name_en, name_zh: venue.name_zh };
  localStorage.setItem(KIOSK_KEY, JSON.stringify(kiosk));
  return kiosk;
}

// The door display: the venue's poster with the entry code of the day, fetched again when it ends
// (and every hour), so that visits on different days cannot be linked.
async function showCodeOfTheDay(display) {
  $("display-name-en").textContent = display.name_en;
  $("display-name-zh").textContent = display.name_zh;
  $("display").hidden = false;
  const headers = { Authorization: `Bearer ${display.token}` };
  const ref = encodeURIComponent(display.ref);
  let shown = null;
  const refresh = async () => {
    let next = 3600000;
    try {
      const venue = await fetch(`/venues/${ref}`, { headers });
      if (!venue.ok) throw new Error(String(venue.status));
      const { entry_valid_to: validTo } = await venue.json();
      const poster = await fetch(`/venues/${ref}/poster.png`, { headers, cache: "no-store" });
      if (!poster.ok) throw new Error(String(poster.status));
      if (shown) URL.revokeObjectURL(shown);
      shown = URL.createObjectURL(await poster.blob());
      $("display-poster").src = shown;
      $("display-valid").textContent = words.display_valid.replace("{time}", `${dayOf(validTo)} ${timeOf(validTo)}`);
      next = Math.min(next, Math.max(5000, Date.parse(validTo) - Date.now() + 5000));
    } catch {
      $("display-valid").textContent = words.offline;
      next = 60000;
    }
    setTimeout(refresh, next);
  };
  await refresh();
}

async function kioskPage() {
  const status = $("kiosk-status");
  const fromSetup = location.hash.slice(1);
  if (fromSetup) history.replaceState(null, "", location.pathname + location.search); // the token leaves the address bar
  let kiosk = JSON.parse(localStorage.getItem(KIOSK_KEY) || "null");
  try {
    if (fromSetup) kiosk = await kioskSetUp(decodeURIComponent(fromSetup));
  } catch {
    kiosk = null;
  }
  if (!kiosk) {
    status.textContent = words.kiosk_unset;
    return;
  }
  if (kiosk.display) {
    await showCodeOfTheDay(kiosk);
    return;
  }
  $("kiosk-name-en").textContent = kiosk.name_en;
  $("kiosk-name-zh").textContent = kiosk.name_zh;
  $("kiosk").hidden = false;
  const result = $("kiosk-result");
  const seen = new Map(); // a code shown twice within a minute checks its holder in once
  const show = (text, ok) => {
    result.textContent = text;
    result.dataset.outcome = ok ? "ok" : "refused";
  };
  const checkInVisitor = async (code) => {
    if (!code.startsWith("CC1:") && !code.startsWith("HC1:")) {
      show(words.kiosk_not_code, false);
      return;
    }
    if (Date.now() - (seen.get(code) || 0) < 60000) return;
    seen.set(code, Date.now());
    try {
      const response = await fetch("/checkins", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${kiosk.token}` },
        body: JSON.stringify({ client_id: crypto.randomUUID(), token: kiosk.venue_token, code }),
      });
      const answer = await response.json();
      if (response.ok) show(`${words.kiosk_checked_in} ${timeOf(answer.entered_at)}`, true);
      else show(words.kiosk_refused.replace("{reason}", answer.message || response.status), false);
    } catch {
      show(words.offline, false);
    }
  };
  const start = $("kiosk-start");
  const stop = $("kiosk-stop");
  start.addEventListener("click", async () => {
    const { scan } = await import("/static/scanner.js");
    start.hidden = true;
    stop.hidden = false;
    try {
      // Each code read is handled as it comes; scanning goes on until the camera is stopped.
      await scan($("kiosk-video"), stop, (text) => {
        checkInVisitor(text);
        return false;
      });
    } catch {
      status.textContent = words.camera_failed;
    }
    start.hidden = false;
    stop.hidden = true;
  });
}

// The token in a poster's address is not the server's business: a language link keeps it here.
for (const link of document.querySelectorAll("a.keeps-fragment")) {
  link.addEventListener("click", () => {
    link.href = `${link.getAttribute("href").split("#")[0]}${location.hash}`;
  });
}

const pages = { checkin: checkinPage, home: homePage, visits: visitsPage, enrol: enrolPage, code: codePage, data: dataPage, border: borderPage, kiosk: kioskPage };

async function start() {
  showConnection();
  showEnrolment();
  window.addEventListener("online", () => {
    showConnection();
    flush();
  });
  window.addEventListener("offline", showConnection);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  $("leave")?.addEventListener("click", leave);
  try {
    await forgetOldVisits();
    await showVisit();
  } catch {
    // no IndexedDB here (a private window): the page still checks posters and shows the rest
  }
  await (pages[body.dataset.page] || (() => {}))();
  sendDummies();
  body.dataset.ready = "true";
  flush().catch(() => {});
  // What could not be sent (offline, the server busy) is tried again while the page is open.
  setInterval(async () => {
    if (navigator.onLine && (await pending().catch(() => 0))) flush().catch(() => {});
  }, 30000);
}

start();
