// A callee of progressive call invocations in raw WAMP over ws (wamp.2.json): no JavaScript
// library is one yet.
import WebSocket from 'ws';

// rawCallee joins realm at url and registers procedure as a callee announcing
// progressive_call_invocations: it sums the first argument of every INVOCATION of a call and
// yields [sum, chunks, progress flags] on the final one. It resolves to the websocket once
// REGISTERED.
export function rawCallee(url, realm, procedure) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['wamp.2.json']);
    const calls = new Map();
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify([1, realm, { roles: { callee: { features: {
      call_canceling: true, progressive_call_invocations: true,
    } } } }])));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      switch (m[0]) {
        case 2: ws.send(JSON.stringify([64, 1, {}, procedure])); break;
        case 65: resolve(ws); break;
        case 68: {
          const [, req, , details, args] = m;
          const c = calls.get(req) || { sum: 0, chunks: 0, flags: [] };
          c.sum += args[0];
          c.chunks += 1;
          c.flags.push(details.progress === true);
          calls.set(req, c);
          if (!details.progress) {
            calls.delete(req);
            ws.send(JSON.stringify([70, req, {}, [c.sum, c.chunks, c.flags]]));
          }
          break;
        }
        default: reject(new Error(`raw callee got ${data}`));
      }
    });
  });
}
