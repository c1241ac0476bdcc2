// Callee and subscriber behind Portico's HTTP bridge tests, in AutobahnJS (Node).
//
// Usage: node bridge_peer.mjs URL REALM PREFIX
//
// Registers PREFIX.add2 (a + b) and PREFIX.fail (throws autobahn.Error
// "com.example.error.js_failed" with the call's args and kwargs), subscribes to PREFIX.topic
// and prints {"event": {"topic", "args", "kwargs"}} per event, after {"ready": true}. Stays
// until killed.
import autobahn from 'autobahn';

const [url, realm, prefix] = process.argv.slice(2);

const conn = new autobahn.Connection({ url, realm, max_retries: 0 });
conn.onopen = async (session) => {
  await session.register(`${prefix}.add2`, (args) => args[0] + args[1]);
  await session.register(`${prefix}.fail`, (args, kwargs) => {
    throw new autobahn.Error('com.example.error.js_failed', args, kwargs);
  });
  await session.subscribe(`${prefix}.topic`, (args, kwargs, details) => {
    console.log(JSON.stringify({ event: { topic: details.topic || `${prefix}.topic`, args: args || [], kwargs: kwargs || {} } }));
  });
  console.log(JSON.stringify({ ready: true }));
};
conn.onclose = (reason, details) => {
  console.error(`bridge_peer.mjs: closed: ${reason} ${JSON.stringify(details)}`);
  process.exit(1);
};
conn.open();
