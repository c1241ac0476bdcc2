// Progressive call invocations across two Portico nodes of a cluster: wampy's progressiveCall
// on the caller's node, the raw callee (rawcallee.mjs) on the other. Prints one JSON object
// (the Go test asserts on it).
//
// Usage: node cluster_progressive.mjs CALLER_URL CALLEE_URL REALM
import { Wampy } from 'wampy';
import { JsonSerializer } from 'wampy/JsonSerializer.js';
import WebSocket from 'ws';
import { rawCallee } from './rawcallee.mjs';

const [callerURL, calleeURL, realm] = process.argv.slice(2);

const timer = setTimeout(() => {
  console.error('cluster_progressive.mjs: no result within 90s');
  process.exit(2);
}, 90000);

async function main() {
  const callee = await rawCallee(calleeURL, realm, 'com.ex.sum');
  const a = new Wampy(callerURL, { realm, ws: WebSocket, serializer: new JsonSerializer(), autoReconnect: false });
  await a.connect();
  const out = {};

  // The caller's node learns of the callee's registration from the callee node's heartbeats:
  // a plain call (one INVOCATION, no progress) until it goes through, at most 60 s.
  const end = Date.now() + 60000;
  for (;;) {
    try {
      out.plain = (await a.call('com.ex.sum', [0])).argsList;
      break;
    } catch (e) {
      if (e.error !== 'wamp.error.no_such_procedure' || Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100)); // poll: the nodes learn of each other's callees
    }
  }

  // Three CALLs with one request ID reach the callee on the other node as one call.
  const pc = a.progressiveCall('com.ex.sum', [1]);
  pc.sendData([2]);
  pc.sendData([3], { progress: false });
  out.progressive = (await pc.result).argsList;

  callee.close();
  await a.disconnect();
  clearTimeout(timer);
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error('cluster_progressive.mjs:', e && (e.stack || e.error || JSON.stringify(e)));
  process.exit(1);
});
