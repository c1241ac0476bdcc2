// AutobahnJS and wampy calling each other through Portico: each registers a procedure the
// other calls, each publishes an event the other receives. Prints one JSON object of what was
// observed (the Go test asserts on it).
//
// Usage: node interop.mjs URL REALM AUTOBAHN_SERIALIZER WAMPY_SERIALIZER
import autobahn from 'autobahn';
import { Wampy } from 'wampy';
import { JsonSerializer } from 'wampy/JsonSerializer.js';
import { MsgpackSerializer } from 'wampy/MsgpackSerializer.js';
import { CborSerializer } from 'wampy/CborSerializer.js';
import WebSocket from 'ws';

const [url, realm, abSer, wpSer] = process.argv.slice(2);

const timer = setTimeout(() => {
  console.error('interop.mjs: no result within 30s');
  process.exit(2);
}, 30000);

const abSerializers = {
  json: () => new autobahn.serializer.JSONSerializer(),
  msgpack: () => new autobahn.serializer.MsgpackSerializer(),
  cbor: () => new autobahn.serializer.CBORSerializer(),
};
const wpSerializers = {
  json: () => new JsonSerializer(),
  msgpack: () => new MsgpackSerializer(),
  cbor: () => new CborSerializer(),
};

function openAutobahn() {
  return new Promise((resolve, reject) => {
    const conn = new autobahn.Connection({
      url, realm, serializers: [abSerializers[abSer]()], max_retries: 0,
    });
    conn.onopen = (session) => resolve({ conn, session });
    conn.onclose = (reason, details) => { reject(new Error(`autobahn closed: ${reason} ${JSON.stringify(details)}`)); return true; };
    conn.open();
  });
}

function eventually() {
  let resolve;
  const p = new Promise((r) => { resolve = r; });
  return { p, resolve };
}

async function main() {
  const { conn, session: ab } = await openAutobahn();
  const wp = new Wampy(url, { realm, ws: WebSocket, serializer: wpSerializers[wpSer](), autoReconnect: false });
  await wp.connect();

  await ab.register('com.example.js.ab.add2', (args) => args[0] + args[1]);
  await wp.register('com.example.js.wampy.mul', ({ argsList }) => ({ argsList: [argsList[0] * argsList[1]] }));

  const fromWampy = eventually();
  const fromAutobahn = eventually();
  await ab.subscribe('com.example.js.from_wampy', (args) => fromWampy.resolve(args[0]));
  await wp.subscribe('com.example.js.from_ab', (ev) => fromAutobahn.resolve(ev.argsList[0]));
  // A prefix subscription: wampy leaves get_retained undefined beside the match it names.
  const prefixed = eventually();
  await wp.subscribe('com.example.js.pfx', (ev) => prefixed.resolve(ev.details.topic), { match: 'prefix' });

  const out = {};
  out.add2_called_by_wampy = (await wp.call('com.example.js.ab.add2', [2, 3])).argsList[0];
  out.mul_called_by_autobahn = await ab.call('com.example.js.wampy.mul', [6, 7]);
  await ab.publish('com.example.js.from_ab', ['hello wampy'], {}, { acknowledge: true });
  await wp.publish('com.example.js.from_wampy', ['hello autobahn']);
  out.wampy_got = await fromAutobahn.p;
  await ab.publish('com.example.js.pfx.deep', [], {}, { acknowledge: true });
  out.wampy_prefix_topic = await prefixed.p;
  out.autobahn_got = await fromWampy.p;

  await wp.disconnect();
  conn.onclose = () => true;
  conn.close();
  clearTimeout(timer);
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error('interop.mjs:', e && (e.stack || e.error || e));
  process.exit(1);
});
