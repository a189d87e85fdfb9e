// The CrowdNotifier reference library (@c4dt/libcrowdnotifier, v3), driven by
// tests/integration/test_presence_interop.py: one JSON request on stdin, one JSON answer on stdout.
// Bytes travel as hex; the library's own base64 (URL-safe, no padding) where it speaks base64.
'use strict';
const cn = require('@c4dt/libcrowdnotifier');
const v3 = require('@c4dt/libcrowdnotifier/dist/v3');
const helpers = require('@c4dt/libcrowdnotifier/dist/v3/helpers');
const {mcl, sodium, crowdnotifier_v3: pb} = cn;

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const unhex = (text) => Uint8Array.from(Buffer.from(text, 'hex'));

const steps = {
  // The authority's key pair and a venue, as the reference sets them up.
  setup: ({description, address, from, to}) => {
    const ha = v3.setupHA();
    const loc = v3.setupLocation(3, ha.publicKey, description, address, new Date(from * 1000), new Date(to * 1000), new Uint8Array());
    return {authority: {public: hex(ha.publicKey), secret: hex(ha.privateKey)}, entry: hex(sodium.from_base64(loc.qrCodePayload)), tracing: hex(sodium.from_base64(loc.qrCodeTrace))};
  },
  // A phone's check-in at the venue an entry code names: one ciphertext per hour.
  checkin: ({entry, arrival, departure}) => {
    const venue = v3.getVenueInfoFromQrCodeV3(sodium.to_base64(unhex(entry)));
    const visit = v3.getCheckIn(arrival, departure, venue);
    return {entries: visit.ibeCiphertextEntries.map((e) => ({c1: hex(e.c1.serialize()), c2: hex(e.c2), c3: hex(e.c3), nonce: hex(e.nonce)}))};
  },
  // The venue owner's pre-traces from the tracing code.
  pretrace: ({tracing, start, end}) => {
    const trace = pb.QRCodeTrace.decode(unhex(tracing));
    return {preTraces: v3.genPreTrace(trace, start, end).map((b) => hex(sodium.from_base64(b)))};
  },
  // The authority's check and trace of a pre-trace ("" when refused).
  trace: ({preTrace, authority, message}) => {
    const decoded = pb.PreTraceWithProof.decode(unhex(preTrace));
    const keys = {publicKey: unhex(authority.public), privateKey: unhex(authority.secret), keyType: 'x25519'};
    const made = v3.genTrace(decoded, keys, 3, message, new Uint8Array());
    return {trace: made === undefined ? '' : hex(sodium.from_base64(made))};
  },
  // A phone's match of its stored check-in against a published trace.
  match: ({entries, trace}) => {
    const record = {date: 0, ibeCiphertextEntries: entries.map((e) => {
      const c1 = new mcl.G2();
      c1.deserialize(unhex(e.c1));
      return {c1, c2: unhex(e.c2), c3: unhex(e.c3), nonce: unhex(e.nonce)};
    })};
    const found = v3.match(record, pb.Trace.decode(unhex(trace)));
    return {exposure: found === undefined ? null : {arrival: found.startTimestamp, departure: found.endTimestamp, message: found.message}};
  },
  // mcl-wasm's serialisations and hashes, for the Python side to compare with its own.
  elements: ({messages}) => {
    const g2 = helpers.baseG2();
    return {
      baseG2: hex(g2.serialize()),
      hashes: messages.map((m) => {
        const fr = new mcl.Fr();
        fr.setHashOf(unhex(m));
        const g1 = mcl.hashAndMapToG1(unhex(m));
        return {fr: hex(fr.serialize()), g1: hex(g1.serialize()), g2: hex(mcl.mul(g2, fr).serialize()), gt: hex(mcl.pairing(g1, mcl.mul(g2, fr)).serialize())};
      }),
    };
  },
};

(async () => {
  await cn.waitReady();
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const request = JSON.parse(input);
  process.stdout.write(JSON.stringify(steps[request.step](request)));
})().catch((error) => {
  process.stderr.write(String(error && error.stack || error));
  process.exit(1);
});
