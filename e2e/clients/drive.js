'use strict';
// drive.js runs one real, unmodified analytics client library against
// consentry serve for the e2e tests (e2e/clients_test.go).
//
//   node drive.js <client> <base URL>
//
// It reads one JSON command per line on stdin and answers each with one JSON
// line on stdout:
//
//   {"phase":"send"|"optout"|"after","person":{...},"other":"<user id>"}
//   -> {"phase":...,"ok":bool,"requests":N,"paths":[...],"error":"..."}
//
// "send" sends an identify/profile call and a track call seeded with the
// person's personal data; "optout" opts the person out where the vendor has
// a wire signal for it (CleverTap ct_optout), otherwise does nothing; "after"
// sends one event of the person's, then one of the other user's, each in a
// request of its own, so that Consentry answers the first for the vendor. "requests" is
// the number of HTTP requests the library started during the phase, counted
// through Node's diagnostics channels (http and undici), so retries and
// duplicates show up without touching the library. ok is the library's own
// verdict: its callbacks, promises or error events.
//
// Everything goes to the base URL on 127.0.0.1; the script exits by itself
// after HARD_LIMIT_MS.

const dc = require('node:diagnostics_channel');
const readline = require('node:readline');

const HARD_LIMIT_MS = 60_000;
const PHASE_LIMIT_MS = 20_000;

const [, , client, base] = process.argv;
if (!client || !base || !/^https?:\/\/127\.0\.0\.1:\d+$/.test(base)) {
  console.error('usage: node drive.js <client> http://127.0.0.1:PORT');
  process.exit(2);
}
setTimeout(() => {
  console.error(`drive.js ${client}: hard time limit reached`);
  process.exit(3);
}, HARD_LIMIT_MS).unref();

// Requests the library starts, counted before any library is loaded.
let requests = [];
dc.subscribe('http.client.request.start', ({ request }) => {
  requests.push(`${request.method} ${request.path}`);
});
dc.subscribe('undici:request:create', ({ request }) => {
  requests.push(`${request.method} ${request.path}`);
});

const port = Number(new URL(base).port);
const drivers = {
  clevertap: clevertapDriver,
  segment: segmentDriver,
  rudderstack: rudderDriver,
  mixpanel: mixpanelDriver,
  amplitude: amplitudeDriver,
  posthog: posthogDriver,
};
if (!drivers[client]) {
  console.error(`unknown client ${client}; one of ${Object.keys(drivers).join(', ')}`);
  process.exit(2);
}
const driver = drivers[client]();

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(() => runPhase(line));
});
rl.on('close', () => {
  chain.then(async () => {
    if (driver.close) await withTimeout(driver.close(), 5000).catch(() => {});
    process.exit(0);
  });
});

async function runPhase(line) {
  const cmd = JSON.parse(line);
  requests = [];
  const out = { phase: cmd.phase, ok: false };
  try {
    const fn = driver[cmd.phase];
    if (!fn) throw new Error(`no phase ${cmd.phase}`);
    const res = await withTimeout(fn(cmd.person, cmd.other), PHASE_LIMIT_MS);
    out.ok = true;
    if (res !== undefined) out.result = res;
  } catch (err) {
    // Only the error's message: the tests never put it in a log with values.
    out.error = String(err && err.message ? err.message : err);
  }
  // Let late retries (if any) start before counting.
  await sleep(300);
  out.requests = requests.length;
  out.paths = requests;
  process.stdout.write(JSON.stringify(out) + '\n');
}

function withTimeout(p, ms) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// cb adapts a Node-style callback API to a promise.
function cb(fn) {
  return new Promise((resolve, reject) => fn((err, ...rest) => (err ? reject(err) : resolve(rest[0]))));
}

// --- CleverTap server API (npm clevertap 1.3.0) ---------------------------

function clevertapDriver() {
  const CleverTap = require('clevertap');
  const ct = CleverTap.init('TEST-RK4-654-R75Z', 'CT-PASSCODE-1', CleverTap.REGIONS.EUROPE);
  // The library has no base-URL option: its endpoint is a public field.
  ct.api.apiEndpoint = base + '/1';
  const ts = Math.floor(Date.now() / 1000);
  const upload = async (records) => {
    const res = await ct.upload(records);
    if (!res || res.status !== 'success') {
      throw new Error('upload not acknowledged: ' + JSON.stringify(res && { status: res.status, processed: res.processed }));
    }
    return { status: res.status, processed: res.processed };
  };
  const event = (identity, p) => ({
    type: 'event', identity, ts, evtName: 'Order Completed',
    evtData: { Amount: 9.99, Plan: 'pro', Items: 3, email: p.email, phone: p.phone, gaid: p.gaid, ip: p.ip, Carrier: p.carrier, wifi: true },
  });
  return {
    send: (p) => upload([
      { type: 'profile', identity: p.userId, ts, profileData: { Email: p.email, Phone: p.phone, Name: p.name, 'Customer Type': 'Gold' } },
      event(p.userId, p),
    ]),
    optout: (p) => upload([{ type: 'profile', identity: p.userId, ts, profileData: { ct_optout: true } }]),
    after: async (p, other) => {
      await upload([event(p.userId, p)]);
      await upload([event(other, p)]);
    },
  };
}

// Shared Segment-spec context (Segment and RudderStack).
function specContext(p) {
  return {
    ip: p.ip,
    page: { url: p.pageUrl, referrer: p.pageUrlEnc, path: '/checkout', search: '?email=' + encodeURIComponent(p.email) },
    device: { id: p.deviceId, advertisingId: p.adId, adTrackingEnabled: true },
    network: { carrier: p.carrier, wifi: true, cellular: false, bluetooth: false },
  };
}

function specTrack(p, userId) {
  return {
    userId, anonymousId: p.anonId, event: 'Order Completed',
    properties: {
      total: 9.99, plan: 'pro', items: 3, email: p.email, phone: p.phone,
      url: p.pageUrl, referrer: p.pageUrlEnc, shipping_address: p.address,
    },
    context: specContext(p),
  };
}

// --- @segment/analytics-node 3.1.0 ----------------------------------------

function segmentDriver() {
  const { Analytics } = require('@segment/analytics-node');
  const errors = [];
  const fresh = () => {
    const a = new Analytics({
      writeKey: 'SEG_WRITE_KEY', host: base, path: '/v1/batch', flushAt: 2, flushInterval: 200,
      maxRetries: 3, httpRequestTimeout: 10_000,
    });
    a.on('error', (e) => errors.push(e));
    return a;
  };
  const run = async (calls) => {
    errors.length = 0;
    const a = fresh();
    const done = calls.map(([method, msg]) => new Promise((resolve, reject) => {
      a[method](msg, (err) => (err ? reject(err) : resolve()));
    }));
    await Promise.all(done);
    await a.closeAndFlush({ timeout: 10_000 });
    if (errors.length) throw new Error('client error event: ' + (errors[0].reason || errors[0].code || errors[0]));
  };
  return {
    send: (p) => run([
      ['identify', { userId: p.userId, anonymousId: p.anonId, traits: { email: p.email, phone: p.phone, name: p.name, plan: 'pro' }, context: specContext(p) }],
      ['track', specTrack(p, p.userId)],
    ]),
    optout: async () => {},
    after: async (p, other) => {
      await run([['track', specTrack(p, p.userId)]]);
      await run([['track', specTrack(p, other)]]);
    },
  };
}

// --- @rudderstack/rudder-sdk-node 3.0.13 ----------------------------------

function rudderDriver() {
  const Analytics = require('@rudderstack/rudder-sdk-node');
  const run = async (calls) => {
    const a = new Analytics('RS_WRITE_KEY', {
      dataPlaneUrl: base, flushAt: 20, flushInterval: 60_000, retryCount: 3, logLevel: 'error',
    });
    const done = calls.map(([method, msg]) => new Promise((resolve, reject) => {
      a[method](msg, (err) => (err ? reject(err) : resolve()));
    }));
    await cb((k) => a.flush(k));
    await Promise.all(done);
  };
  return {
    send: (p) => run([
      ['identify', { userId: p.userId, anonymousId: p.anonId, traits: { email: p.email, phone: p.phone, name: p.name, plan: 'pro' }, context: specContext(p) }],
      ['track', specTrack(p, p.userId)],
    ]),
    optout: async () => {},
    after: async (p, other) => {
      await run([['track', specTrack(p, p.userId)]]);
      await run([['track', specTrack(p, other)]]);
    },
  };
}

// --- mixpanel 0.24.0 --------------------------------------------------------

function mixpanelDriver() {
  const Mixpanel = require('mixpanel');
  const mp = Mixpanel.init('MP_TOKEN', { host: `127.0.0.1:${port}`, protocol: 'http', keepAlive: false });
  const props = (p, distinctId) => ({
    distinct_id: distinctId, $device_id: p.gaid, ip: p.ip, email: p.email, phone: p.phone,
    idfa: p.adId, $carrier: p.carrier, $wifi: true, total: 9.99, plan: 'pro', items: 3,
    $current_url: p.pageUrl, $referrer: p.pageUrlEnc, shipping_address: p.address,
  });
  return {
    send: async (p) => {
      await cb((k) => mp.people.set(p.userId, { $email: p.email, $phone: p.phone, $name: p.name, plan: 'pro' }, { $ip: p.ip }, k));
      await cb((k) => mp.track('Order Completed', props(p, p.userId), k));
      // The batch endpoint posts raw base64 in a form body; the note forces
      // '+' and '/' into the base64.
      await cb((k) => mp.track_batch([{ event: 'Batch Item', properties: { ...props(p, p.userId), note: 'a>>b??~~' } }], k));
    },
    optout: async () => {},
    after: async (p, other) => {
      await cb((k) => mp.track('Order Completed', props(p, p.userId), k));
      await cb((k) => mp.track('Order Completed', props(p, other), k));
    },
  };
}

// --- @amplitude/analytics-node 1.5.73 ---------------------------------------

function amplitudeDriver() {
  const amplitude = require('@amplitude/analytics-node');
  const client = amplitude.createInstance();
  let ready;
  const init = () => (ready ||= client.init('AMP_API_KEY', {
    serverUrl: base + '/2/httpapi', flushQueueSize: 50, flushIntervalMillis: 60_000, logLevel: 0,
  }).promise);
  const opts = (p, userId) => ({
    user_id: userId, device_id: p.deviceId, ip: p.ip, idfa: p.adId, idfv: p.adId, adid: p.gaid,
    android_id: p.gaid, carrier: p.carrier, location_lat: 37.774929, location_lng: -122.419416,
  });
  const flushAll = async (results) => {
    await client.flush().promise;
    for (const r of await Promise.all(results)) {
      if (r.code !== 200) throw new Error(`event not accepted: code ${r.code} ${r.message}`);
    }
  };
  return {
    send: async (p) => {
      await init();
      const id = new amplitude.Identify().set('email', p.email).set('phone', p.phone).set('name', p.name).set('plan', 'pro');
      await flushAll([
        client.identify(id, opts(p, p.userId)).promise,
        client.track('Order Completed', {
          total: 9.99, plan: 'pro', items: 3, email: p.email, phone: p.phone,
          '[Amplitude] Page URL': p.pageUrl, referrer: p.pageUrlEnc, shipping_address: p.address,
        }, opts(p, p.userId)).promise,
      ]);
    },
    optout: async () => {},
    after: async (p, other) => {
      await init();
      await flushAll([client.track('Order Completed', { total: 9.99, plan: 'pro', items: 3, email: p.email }, opts(p, p.userId)).promise]);
      await flushAll([client.track('Order Completed', { total: 9.99, plan: 'pro', items: 3, email: p.email }, opts(p, other)).promise]);
    },
  };
}

// --- posthog-node 5.70.0 -------------------------------------------------------

function posthogDriver() {
  const { PostHog } = require('posthog-node');
  const errors = [];
  const ph = new PostHog('phc_PROJECT_KEY', {
    host: base, flushAt: 50, flushInterval: 60_000, fetchRetryCount: 3, fetchRetryDelay: 200,
  });
  ph.on('error', (e) => errors.push(e));
  const capture = (p, distinctId) => ph.capture({
    distinctId, event: 'order completed',
    properties: {
      total: 9.99, plan: 'pro', items: 3, email: p.email, phone: p.phone, $ip: p.ip, $device_id: p.gaid, $idfa: p.adId, $carrier: p.carrier,
      $current_url: p.pageUrl, $referrer: p.pageUrlEnc, $pathname: '/checkout', shipping_address: p.address,
    },
  });
  const flush = async () => {
    errors.length = 0;
    await ph.flush();
    if (errors.length) throw new Error('client error event: ' + (errors[0].message || errors[0]));
  };
  return {
    send: async (p) => {
      ph.identify({ distinctId: p.userId, properties: { $set: { email: p.email, phone: p.phone, name: p.name, plan: 'pro', $ip: p.ip } } });
      capture(p, p.userId);
      await flush();
    },
    optout: async () => {},
    after: async (p, other) => {
      capture(p, p.userId);
      await flush();
      capture(p, other);
      await flush();
    },
    close: () => ph.shutdown(5000),
  };
}
