// AutobahnJS over WAMP long-poll (its `longpoll` transport, as a browser uses it against
// Crossbar) and AutobahnJS over WebSocket, calling each other and exchanging events through
// Portico. Prints one JSON object of what was observed (the Go test asserts on it).
//
// Node has no XMLHttpRequest, which autobahn's long-poll transport sends its requests with:
// the small one below does what a browser's does for it (POST, headers, timeout, status and
// text of the answer) over node:http.
//
// Usage: node longpoll.mjs LONGPOLL_URL WEBSOCKET_URL REALM
import http from 'node:http';
import autobahn from 'autobahn';

const [lpURL, wsURL, realm] = process.argv.slice(2);

const timer = setTimeout(() => {
  console.error('longpoll.mjs: no result within 60s');
  process.exit(2);
}, 60000);

class XMLHttpRequest {
  constructor() {
    this.readyState = 0;
    this.status = 0;
    this.statusText = '';
    this.responseText = '';
    this.timeout = 0;
    this.withCredentials = false;
    this.onreadystatechange = null;
    this.ontimeout = null;
    this.headers = {};
  }

  open(method, url) {
    this.method = method;
    this.url = url;
    this.readyState = 1;
  }

  setRequestHeader(name, value) {
    this.headers[name] = value;
  }

  done(status, statusText, text) {
    if (this.readyState === 4) return;
    this.status = status;
    this.statusText = statusText;
    this.responseText = text;
    this.readyState = 4;
    if (this.onreadystatechange) this.onreadystatechange();
  }

  send(data) {
    const body = data === undefined || data === null ? Buffer.alloc(0) : Buffer.from(data);
    const headers = { ...this.headers, 'Content-Length': body.length };
    let timedOut = false;
    const req = http.request(this.url, { method: this.method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(t);
        this.done(res.statusCode, res.statusMessage, Buffer.concat(chunks).toString('utf8'));
      });
    });
    const t = this.timeout > 0 ? setTimeout(() => {
      timedOut = true;
      req.destroy();
      if (this.ontimeout) this.ontimeout();
    }, this.timeout) : null;
    req.on('error', () => {
      clearTimeout(t);
      if (!timedOut) this.done(0, '', '');
    });
    req.end(body);
  }
}
globalThis.XMLHttpRequest = XMLHttpRequest;

function open(options) {
  return new Promise((resolve, reject) => {
    const conn = new autobahn.Connection({ realm, max_retries: 0, ...options });
    conn.onopen = (session, details) => resolve({ conn, session, details });
    conn.onclose = (reason, details) => { reject(new Error(`closed: ${reason} ${JSON.stringify(details)}`)); return true; };
    conn.open();
  });
}

function eventually() {
  let resolve;
  const p = new Promise((r) => { resolve = r; });
  return { p, resolve };
}

async function main() {
  const { conn: lpConn, session: lp, details } = await open({ transports: [{ type: 'longpoll', url: lpURL }] });
  const { conn: wsConn, session: ws } = await open({ url: wsURL });
  const out = { lp_transport: details.transport.type, lp_protocol: details.transport.protocol };

  await lp.register('com.example.lp.add2', (args) => args[0] + args[1]);
  await ws.register('com.example.ws.mul', (args) => args[0] * args[1]);
  out.add2_called_over_websocket = await ws.call('com.example.lp.add2', [2, 3]);
  out.mul_called_over_longpoll = await lp.call('com.example.ws.mul', [6, 7]);

  // Events to the long-poll session arrive in order, however many wait between its polls.
  const got = [];
  const all = eventually();
  await lp.subscribe('com.example.lp.topic', (args) => {
    got.push(args[0]);
    if (got.length === 20) all.resolve();
  });
  for (let i = 0; i < 20; i++) {
    await ws.publish('com.example.lp.topic', [i], {}, { acknowledge: true });
  }
  await all.p;
  out.longpoll_got = got;

  const fromLP = eventually();
  await ws.subscribe('com.example.ws.topic', (args, kwargs) => fromLP.resolve({ args, kwargs }));
  await lp.publish('com.example.ws.topic', ['hello websocket'], { from: 'longpoll' }, { acknowledge: true });
  out.websocket_got = await fromLP.p;

  const closed = eventually();
  lpConn.onclose = (reason) => { closed.resolve(reason); return true; };
  lpConn.close();
  out.longpoll_close = await closed.p;
  wsConn.onclose = () => true;
  wsConn.close();
  clearTimeout(timer);
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error('longpoll.mjs:', e && (e.stack || e.error || e));
  process.exit(1);
});
