// Advanced-profile features through Portico with wampy, which speaks payload passthru mode
// (ppt_scheme) and progressive call invocations as a caller. No JavaScript library is a callee
// of progressive call invocations yet, so that callee is a few lines of raw WAMP over ws (rawcallee.mjs).
// Prints one JSON object of what was observed (the Go test asserts on it).
//
// Usage: node advanced.mjs URL REALM SERIALIZER
import { Wampy } from 'wampy';
import { JsonSerializer } from 'wampy/JsonSerializer.js';
import { MsgpackSerializer } from 'wampy/MsgpackSerializer.js';
import { CborSerializer } from 'wampy/CborSerializer.js';
import WebSocket from 'ws';
import { rawCallee } from './rawcallee.mjs';

const [url, realm, ser] = process.argv.slice(2);

const timer = setTimeout(() => {
  console.error('advanced.mjs: no result within 30s');
  process.exit(2);
}, 30000);

const serializers = {
  json: () => new JsonSerializer(),
  msgpack: () => new MsgpackSerializer(),
  cbor: () => new CborSerializer(),
};

function eventually() {
  let resolve;
  const p = new Promise((r) => { resolve = r; });
  return { p, resolve };
}

async function openWampy() {
  const wp = new Wampy(url, { realm, ws: WebSocket, serializer: serializers[ser](), autoReconnect: false });
  await wp.connect();
  return wp;
}

async function main() {
  const a = await openWampy();
  const b = await openWampy();
  const out = {};

  // Payload passthru mode: wampy packs args and kwargs into one opaque payload under
  // ppt_scheme and unpacks what comes with ppt_scheme in the details.
  const ppt = { ppt_scheme: 'x_portico', ppt_serializer: 'native' };
  const event = eventually();
  await b.subscribe('com.adv.js.ppt', (ev) => event.resolve({ args: ev.argsList, kwargs: ev.argsDict, scheme: ev.details.ppt_scheme }));
  await b.register('com.adv.js.ppt.reverse', ({ argsList, details }) => ({
    argsList: [...argsList].reverse(), options: { ppt_scheme: details.ppt_scheme, ppt_serializer: 'native' },
  }));
  await a.publish('com.adv.js.ppt', { argsList: ['hi', 2], argsDict: { k: 'v' } }, { ...ppt });
  out.ppt_event = await event.p;
  const res = await a.call('com.adv.js.ppt.reverse', [1, 2, 3], { ...ppt });
  out.ppt_result = { args: res.argsList, scheme: res.details.ppt_scheme };

  // Progressive call invocations: three CALLs with one request ID reach the raw callee as one
  // call.
  const callee = await rawCallee(url, realm, 'com.adv.js.sum');
  const pc = a.progressiveCall('com.adv.js.sum', [1]);
  pc.sendData([2]);
  pc.sendData([3], { progress: false });
  out.progressive = (await pc.result).argsList;
  callee.close();

  // wamp.subscription.remove_subscriber: b loses its subscription (it does not announce
  // subscription_revocation, so it is not told); events published after it do not reach b,
  // which the next event on a topic b keeps shows (one publisher's events keep their order).
  const removedGot = [];
  const sentinel = eventually();
  const { subscriptionId: subId } = await b.subscribe('com.adv.js.removed', (ev) => removedGot.push(ev.argsList[0]));
  await b.subscribe('com.adv.js.kept', () => sentinel.resolve(true));
  await a.call('wamp.subscription.remove_subscriber', [subId, b.getSessionId()]);
  await a.publish('com.adv.js.removed', ['after removal']);
  await a.publish('com.adv.js.kept', ['sentinel']);
  out.sentinel = await sentinel.p;
  out.removed_got = removedGot;

  await a.disconnect();
  await b.disconnect();
  clearTimeout(timer);
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error('advanced.mjs:', e && (e.stack || e.error || JSON.stringify(e)));
  process.exit(1);
});
