// CrowdNotifier version 3 on the phone: the entry code read, a visit kept as IBE ciphertexts (one per
// hour it touches), and a published trace tried on them. Byte for byte what chaincut.presence.protocol
// and chaincut.presence.ibe do (they are the specification; they interoperate with the reference
// library @c4dt/libcrowdnotifier), so that records and traces pass between them either way.
//
// Needs the globals `mcl` (vendor/mcl.js, mcl-wasm 0.7.9, the reference's own pairing library) and
// `nacl` (vendor/nacl-fast.min.js: crypto_secretbox, XSalsa20-Poly1305, as libsodium's), and WebCrypto
// for SHA-256 and HKDF. Times are whole seconds since the Unix epoch (UTC), as the protocol's fields are.
// Group elements are in mcl's serialisation: G1 48 bytes, G2 96, GT 576; every read checks the exact
// length first, and mcl refuses points off the curve or (as initPairing sets it) outside the
// prime-order subgroup.

const INTERVAL_SECONDS = 3600; // the protocol's one interval length: an hour
const HKDF_INFO = new TextEncoder().encode("CrowdNotifier_v3");
const G1_BYTES = 48;
const G2_BYTES = 96;
const NONCE_BYTES = 32; // x: 2l bits for security parameter l = 128
const SECRETBOX_NONCE_BYTES = 24;
const RECORD_HEAD = G2_BYTES + SECRETBOX_NONCE_BYTES + NONCE_BYTES;
// The G2 generator master public keys are built on (the reference's baseG2), as pymcl.g2 serialises it.
const G2_BASE_HEX =
  "b8bd21c1c85680d4efbb05a82603ac0b77d1e37a640b51b4023b40fad47ae4c6" +
  "5110c52d27050826910a8ff0b2a24a027e2b045d057dace5575d941312f14c33" +
  "49507fdcbb61dab51ab62099d0d06b59654f2788a0d3ac7d609f7152602be093";

let pairingReady = null; // the promise of mcl's initialisation, made once
let initialised = false;
let g2Base = null;

// mcl.js carries its WebAssembly as a data: URL and first tries fetch() on it, which the pages' CSP
// (connect-src falls back to 'self') refuses with a console error before mcl decodes the URL
// itself. While mcl starts, fetch refuses data: URLs without asking the network, so the page's CSP
// stays as it is and the console clean.
function withoutDataFetch(start) {
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, options) =>
    typeof input === "string" && input.startsWith("data:")
      ? Promise.reject(new TypeError("data: URLs are decoded, not fetched"))
      : realFetch(input, options);
  const restore = () => {
    globalThis.fetch = realFetch;
  };
  let started;
  try {
    started = start();
  } catch (error) {
    restore();
    throw error;
  }
  return started.finally(restore);
}

export async function initPairing() {
  if (pairingReady === null) {
    pairingReady = withoutDataFetch(() => mcl.init(mcl.BLS12_381)).then(
      () => {
        // mcl-wasm 0.7.9 reads points outside the prime-order subgroups unless told to check, which
        // pymcl (and so the Python side) does: a key or ciphertext from such a point is refused.
        mcl.verifyOrderG1(true);
        mcl.verifyOrderG2(true);
        g2Base = new mcl.G2();
        g2Base.deserialize(fromHex(G2_BASE_HEX));
        initialised = true;
      },
      (error) => {
        pairingReady = null; // let a later call try again
        throw error;
      },
    );
  }
  return pairingReady;
}

function requirePairing() {
  if (!initialised) throw new Error("the pairing is not ready: await initPairing() first");
}

// --- protobuf: a few flat messages of varints and length-delimited fields (messages.py) ---

const VARINT = 0;
const LENGTH = 2;
const utf8 = new TextDecoder("utf-8", { fatal: true });

// Field number -> [name, kind]; kind "uint", "int64", "string", "bytes", or a nested schema.
const TRACE_LOCATION = {
  name: "TraceLocation",
  fields: {
    1: ["version", "uint"],
    2: ["description", "string"],
    3: ["address", "string"],
    4: ["startTimestamp", "uint"],
    5: ["endTimestamp", "uint"],
  },
  defaults: { version: 0, description: "", address: "", startTimestamp: 0, endTimestamp: 0 },
};
const CROWD_NOTIFIER_DATA = {
  name: "CrowdNotifierData",
  fields: {
    1: ["version", "uint"],
    2: ["publicKey", "bytes"],
    3: ["cryptographicSeed", "bytes"],
    4: ["type", "uint"],
  },
  defaults: { version: 0, publicKey: new Uint8Array(0), cryptographicSeed: new Uint8Array(0), type: 0 },
};
const QR_CODE_PAYLOAD = {
  name: "QRCodePayload",
  fields: {
    1: ["version", "uint"],
    2: ["locationData", TRACE_LOCATION],
    3: ["crowdNotifierData", CROWD_NOTIFIER_DATA],
    4: ["countryData", "bytes"],
  },
  defaults: { version: 0, locationData: null, crowdNotifierData: null, countryData: new Uint8Array(0) },
};
const TRACE = {
  name: "Trace",
  fields: {
    1: ["identity", "bytes"],
    2: ["secretKeyForIdentity", "bytes"],
    3: ["startTime", "int64"],
    4: ["endTime", "int64"],
    5: ["nonce", "bytes"],
    6: ["encryptedAssociatedData", "bytes"],
  },
  defaults: {
    identity: new Uint8Array(0),
    secretKeyForIdentity: new Uint8Array(0),
    startTime: 0,
    endTime: 0,
    nonce: new Uint8Array(0),
    encryptedAssociatedData: new Uint8Array(0),
  },
};
const ASSOCIATED_DATA = {
  name: "AssociatedData",
  fields: { 1: ["version", "int64"], 2: ["message", "string"], 3: ["countryData", "bytes"] },
  defaults: { version: 0, message: "", countryData: new Uint8Array(0) },
};

function readVarint(data, at, what) {
  let value = 0n;
  let shift = 0n;
  for (let index = at; index < Math.min(at + 10, data.length); index++) {
    const byte = data[index];
    value |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return [value & 0xffffffffffffffffn, index + 1];
    shift += 7n;
  }
  throw new Error(`${what}: a varint runs past the end or past 10 bytes`);
}

function decodeMessage(schema, data) {
  const what = schema.name;
  const values = { ...schema.defaults };
  let at = 0;
  while (at < data.length) {
    let key;
    [key, at] = readVarint(data, at, what);
    const number = Number(key >> 3n);
    const wire = Number(key & 7n);
    const known = schema.fields[number];
    if (wire === VARINT) {
      let value;
      [value, at] = readVarint(data, at, what);
      if (known !== undefined) {
        const [name, kind] = known;
        if (kind !== "uint" && kind !== "int64") {
          throw new Error(`${what}.${name}: expected length-delimited, got a varint`);
        }
        // 64-bit as a Number: exact below 2^53, which every time in seconds is.
        values[name] = Number(kind === "int64" ? BigInt.asIntN(64, value) : value);
      }
    } else if (wire === LENGTH) {
      let size;
      [size, at] = readVarint(data, at, what);
      if (BigInt(at) + size > BigInt(data.length)) throw new Error(`${what}: a field runs past the end`);
      const raw = data.slice(at, at + Number(size));
      at += Number(size);
      if (known !== undefined) {
        const [name, kind] = known;
        if (kind === "uint" || kind === "int64") {
          throw new Error(`${what}.${name}: expected a varint, got length-delimited`);
        }
        values[name] = decodedField(raw, kind, `${what}.${name}`);
      }
    } else if (wire === 1) {
      at += 8; // fixed 64-bit
    } else if (wire === 5) {
      at += 4; // fixed 32-bit
    } else {
      throw new Error(`${what}: wire type ${wire} is not supported`);
    }
    if (at > data.length) throw new Error(`${what}: a field runs past the end`);
  }
  return values;
}

function decodedField(raw, kind, what) {
  if (kind === "bytes") return raw;
  if (kind === "string") {
    try {
      return utf8.decode(raw);
    } catch {
      throw new Error(`${what}: not UTF-8`);
    }
  }
  return decodeMessage(kind, raw);
}

// --- the entry code ---

function asBytes(value, what) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new Error(`${what}: expected a Uint8Array`);
}

function g2FromBytes(data, what) {
  if (data.length !== G2_BYTES) throw new Error(`${what}: expected ${G2_BYTES} bytes, got ${data.length}`);
  const point = new mcl.G2();
  try {
    point.deserialize(data);
  } catch {
    throw new Error(`${what}: not a valid G2 element`);
  }
  return point;
}

function g1FromBytes(data, what) {
  if (data.length !== G1_BYTES) throw new Error(`${what}: expected ${G1_BYTES} bytes, got ${data.length}`);
  const point = new mcl.G1();
  try {
    point.deserialize(data);
  } catch {
    throw new Error(`${what}: not a valid G1 element`);
  }
  return point;
}

// The venue an entry QR code's payload names (protocol.read_entry_code, without the validity check:
// compare validFrom and validTo with the time yourself). Throws an Error naming what is wrong.
export function decodeEntryPayload(bytes) {
  requirePairing();
  const payload = asBytes(bytes, "entry code");
  let decoded;
  try {
    decoded = decodeMessage(QR_CODE_PAYLOAD, payload);
  } catch (error) {
    throw new Error(`entry code: ${error.message}`);
  }
  const location = decoded.locationData;
  const data = decoded.crowdNotifierData;
  if (
    location === null ||
    data === null ||
    !(location.description && location.address && location.startTimestamp && location.endTimestamp)
  ) {
    throw new Error("entry code: the venue's description, address or validity is missing");
  }
  // The point at infinity as a master key would encrypt to nothing: refused, as the Python refuses it.
  if (g2FromBytes(data.publicKey, "entry code's public key").isZero()) {
    throw new Error("entry code's public key: the point at infinity");
  }
  return {
    description: location.description,
    address: location.address,
    validFrom: location.startTimestamp,
    validTo: location.endTimestamp,
    publicKey: data.publicKey,
    countryData: decoded.countryData,
  };
}

// --- nonces and identities ---

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const ascii = (text) => new TextEncoder().encode(text);

async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

// HKDF-SHA-256 of the entry code's payload bytes (empty salt, info "CrowdNotifier_v3"): nonce1,
// nonce2 and the notification key, 32 bytes each.
export async function deriveNonces(payload) {
  const bytes = asBytes(payload, "entry code");
  const key = await crypto.subtle.importKey("raw", bytes, "HKDF", false, ["deriveBits"]);
  const derived = new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: HKDF_INFO },
      key,
      96 * 8,
    ),
  );
  return {
    preId: derived.slice(0, 32),
    timeKey: derived.slice(32, 64),
    notificationKey: derived.slice(64, 96),
  };
}

function intervalBytes(startOfInterval) {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  view.setInt32(0, INTERVAL_SECONDS);
  view.setBigInt64(4, BigInt(startOfInterval));
  return out;
}

// The venue's pre-identity, SHA-256("CN-PREID" || payload || nonce1): a server-based visit keeps it,
// and a case who chooses to share the visit sends it.
export async function preIdentity(payload, nonces) {
  const bytes = asBytes(payload, "entry code");
  const n = nonces ?? (await deriveNonces(bytes));
  return sha256(concat(ascii("CN-PREID"), bytes, n.preId));
}

// The hour's time key, SHA-256("CN-TIMEKEY" || 3600 || start || nonce2).
export async function timeKey(startOfInterval, nonces) {
  if (!Number.isSafeInteger(startOfInterval)) throw new Error("startOfInterval: expected whole seconds");
  return sha256(concat(ascii("CN-TIMEKEY"), intervalBytes(startOfInterval), nonces.timeKey));
}

// The identity for the hour from the pre-identity and the hour's time key:
// SHA-256("CN-ID" || preid || 3600 || start || timekey).
export async function identityOf(preId, startOfInterval, hourKey) {
  return sha256(concat(ascii("CN-ID"), preId, intervalBytes(startOfInterval), hourKey));
}

// The venue's identity for the hour starting at startOfInterval (seconds).
export async function identity(payload, startOfInterval, nonces) {
  const bytes = asBytes(payload, "entry code");
  if (!Number.isSafeInteger(startOfInterval)) throw new Error("startOfInterval: expected whole seconds");
  const n = nonces ?? (await deriveNonces(bytes));
  return identityOf(await preIdentity(bytes, n), startOfInterval, await timeKey(startOfInterval, n));
}

// The start (seconds) of every hour a stay touches, even in part.
export function affectedHours(arrival, departure) {
  const hours = [];
  const last = Math.floor(departure / INTERVAL_SECONDS);
  for (let hour = Math.floor(arrival / INTERVAL_SECONDS); hour <= last; hour++) {
    hours.push(hour * INTERVAL_SECONDS);
  }
  return hours;
}

// --- identity-based encryption (ibe.py: FullIdent on BLS12-381, as the reference builds it) ---

function randomBytes(length) {
  return crypto.getRandomValues(new Uint8Array(length));
}

function xor(a, b) {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

function frHashOf(message) {
  const r = new mcl.Fr();
  r.setHashOf(message);
  return r;
}

async function encrypt(mpk, id, message) {
  const x = randomBytes(NONCE_BYTES);
  const r = frHashOf(concat(x, id, message));
  const c1 = mcl.mul(g2Base, r);
  const shared = mcl.pow(mcl.pairing(mcl.hashAndMapToG1(id), mpk), r);
  const c2 = xor(x, await sha256(shared.serialize()));
  const nonce = randomBytes(SECRETBOX_NONCE_BYTES);
  const c3 = nacl.secretbox(message, nonce, await sha256(x));
  return concat(c1.serialize(), nonce, c2, c3); // as ibe.Ciphertext.to_bytes
}

// The message, or null when the key does not open the record or it fails ibe.decrypt's checks.
// `prepared`: c1's Miller-loop lines, computed once for every key tried on this record.
async function decrypt(id, skid, c1, record, prepared = null) {
  if (skid.isZero()) return null; // mcl refused keys outside the subgroup when they were read
  const nonce = record.subarray(G2_BYTES, G2_BYTES + SECRETBOX_NONCE_BYTES);
  const c2 = record.subarray(G2_BYTES + SECRETBOX_NONCE_BYTES, RECORD_HEAD);
  const c3 = record.subarray(RECORD_HEAD);
  const paired = prepared ? mcl.finalExp(mcl.precomputedMillerLoop(skid, prepared)) : mcl.pairing(skid, c1);
  const x = xor(c2, await sha256(paired.serialize()));
  const message = nacl.secretbox.open(c3, nonce, await sha256(x));
  if (!message) return null;
  if (!mcl.mul(g2Base, frHashOf(concat(x, id, message))).isEqual(c1)) return null;
  return message;
}

function visitMessage(arrival, departure, notificationKey) {
  // The reference stringifies a Node Buffer: {"type":"Buffer","data":[...]}. Compact, in this order.
  const record = {
    arrivalTime: arrival,
    departureTime: departure,
    notificationKey: { type: "Buffer", data: Array.from(notificationKey) },
  };
  return new TextEncoder().encode(JSON.stringify(record));
}

// A visit as the phone keeps it: for each hour the stay touches, the record (IBE ciphertext, as
// ibe.Ciphertext.to_bytes) to that hour's identity. Throws when the payload or the times are wrong.
export async function checkIn(payload, arrival, departure) {
  const venue = decodeEntryPayload(payload);
  if (!Number.isSafeInteger(arrival) || !Number.isSafeInteger(departure)) {
    throw new Error("arrival and departure: expected whole seconds");
  }
  if (departure < arrival) throw new Error("departure: expected a time at or after the arrival");
  const bytes = asBytes(payload, "entry code");
  const mpk = g2FromBytes(venue.publicKey, "venue's public key");
  const nonces = await deriveNonces(bytes);
  const message = visitMessage(arrival, departure, nonces.notificationKey);
  const out = [];
  for (const hour of affectedHours(arrival, departure)) {
    out.push({ hour, record: await encrypt(mpk, await identity(bytes, hour, nonces), message) });
  }
  return out;
}

// --- traces ---

// A published Trace message: the hour's identity, its secret key, the case's window at the venue
// and the authority's message encrypted under the notification key. Throws when malformed.
export function decodeTrace(bytes) {
  try {
    return decodeMessage(TRACE, asBytes(bytes, "trace"));
  } catch (error) {
    throw new Error(`trace: ${error.message}`);
  }
}

function readVisit(opened) {
  let record;
  try {
    record = JSON.parse(utf8.decode(opened));
  } catch {
    return null;
  }
  const data = record?.notificationKey?.data;
  const arrival = Number(record?.arrivalTime);
  const departure = Number(record?.departureTime);
  if (
    !Array.isArray(data) ||
    !data.every((b) => Number.isInteger(b) && b >= 0 && b <= 255) ||
    !Number.isSafeInteger(arrival) ||
    !Number.isSafeInteger(departure)
  ) {
    return null;
  }
  return { arrival, departure, key: Uint8Array.from(data) };
}

// What a decoded trace reveals in one record (protocol.match): the phone's own stay, the authority's
// message and the case's window; null when it is another venue or hour, or anything fails its checks.
export async function openRecord(trace, record) {
  requirePairing();
  let skid;
  try {
    skid = g1FromBytes(trace.secretKeyForIdentity, "trace's key");
  } catch {
    return null;
  }
  return openWith(trace, skid, record);
}

// A record's c1, read once however many traces are tried on it (reading a G2 point, with its subgroup
// check, costs about as much as a pairing), with its Miller-loop lines precomputed (mcl's
// PrecomputedG2, in WebAssembly memory: `forget` frees them). null: not a point.
function preparedRecords() {
  const kept = new Map();
  return {
    of(bytes) {
      if (!kept.has(bytes)) {
        let entry = null;
        try {
          const c1 = g2FromBytes(bytes.subarray(0, G2_BYTES), "record's c1");
          entry = { c1, lines: new mcl.PrecomputedG2(c1) };
        } catch {
          // stays null: no trace opens it
        }
        kept.set(bytes, entry);
      }
      return kept.get(bytes);
    },
    forget() {
      for (const entry of kept.values()) entry?.lines.destroy();
      kept.clear();
    },
  };
}

async function openWith(trace, skid, record, prepared = null) {
  const bytes = asBytes(record, "record");
  if (bytes.length <= RECORD_HEAD) return null;
  let c1;
  let lines = null;
  if (prepared) {
    const entry = prepared.of(bytes);
    if (entry === null) return null;
    ({ c1, lines } = entry);
  } else {
    try {
      c1 = g2FromBytes(bytes.subarray(0, G2_BYTES), "record's c1");
    } catch {
      return null;
    }
  }
  const opened = await decrypt(trace.identity, skid, c1, bytes, lines);
  if (opened === null) return null;
  const visit = readVisit(opened);
  if (visit === null || visit.key.length !== 32 || trace.nonce.length !== SECRETBOX_NONCE_BYTES) {
    return null;
  }
  const associated = nacl.secretbox.open(trace.encryptedAssociatedData, trace.nonce, visit.key);
  if (!associated) return null;
  let message;
  try {
    message = decodeMessage(ASSOCIATED_DATA, associated).message;
  } catch {
    return null;
  }
  return {
    arrival: visit.arrival,
    departure: visit.departure,
    message,
    traceStart: trace.startTime,
    traceEnd: trace.endTime,
    notificationKey: visit.key, // from the phone's own record: a report sends it
  };
}

function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// --- matching a page of published traces against the phone's sealed visits ---

const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

// Every exposure the traces reveal in the visits, as chaincut.presence.client.match_visits finds
// them. `visits`: [{id, arrival, departure, records: {hour: Uint8Array}, identities: {hour: hex} | null}];
// `items`: [{seq, hour, trace: Uint8Array}] as a page of /presence/warnings lists them. A visit with
// identities (a server-based venue) is looked up by the trace's identity; the others are tried, a
// trace only on records of its hour whose visit overlaps the case's window (a pairing each). `seen`:
// the keys (visit:start:end) of exposures found before, which are not found again.
export async function matchTraces(visits, items, seen = new Set()) {
  const prepared = preparedRecords();
  try {
    return await matchPrepared(visits, items, seen, prepared);
  } finally {
    prepared.forget();
  }
}

async function matchPrepared(visits, items, seen, prepared) {
  const found = [];
  for (const item of items) {
    let trace;
    try {
      trace = decodeTrace(item.trace);
    } catch {
      continue; // malformed: no record could open with it
    }
    const identityHex = toHex(trace.identity);
    let key = null;
    let skid = null;
    for (const visit of visits) {
      const record = visit.records[item.hour];
      if (!record) continue;
      if (visit.identities && visit.identities[item.hour] !== identityHex) continue;
      if (!(visit.arrival < trace.endTime && visit.departure > trace.startTime)) continue;
      key = `${visit.id}:${trace.startTime}:${trace.endTime}`;
      if (seen.has(key)) continue;
      if (skid === null) {
        try {
          skid = g1FromBytes(trace.secretKeyForIdentity, "trace's key"); // read once per trace
        } catch {
          break;
        }
      }
      const opened = await openWith(trace, skid, record, prepared);
      if (opened && opened.arrival < opened.traceEnd && opened.departure > opened.traceStart) {
        seen.add(key);
        found.push({ visit: visit.id, seq: item.seq, ...opened });
      }
    }
  }
  return found;
}
