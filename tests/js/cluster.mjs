// One WAMP client role for Portico's cluster end-to-end tests, in AutobahnJS or wampy (Node),
// json serializer. Prints one JSON object per line of what it observes (the Go test reads them
// as they come).
//
// Usage: node cluster.mjs LIB MODE URL NS [ARG]
//
// LIB is autobahn or wampy; every URI is under NS (e.g. com.ex).
//
// MODE
//   callee     register NS.add (a + b), NS.hang (never answers; prints {"hanging": true}) and
//              NS.stream(n) (progressive: n > 0 sends 1..n as progressive results, then the
//              final result "done"; n = 0 sends 1, 2, ... every 50 ms until killed, printing
//              {"streamed": k}), print {"ready": true, "session": ID}, then stay
//   pattern    register NS.pfx with match prefix, answering the procedure it was called as;
//              print {"ready": true}, then stay
//   shared     register NS.shared with invoke roundrobin, answering ARG, then NS.marker.ARG
//              (answering ARG); print {"ready": true}, then stay
//   subscribe  subscribe to NS.topic; print {"ready": true}, then {"event": ARG0,
//              "publisher": ID} per event
//   publish    publish ARG on NS.topic with acknowledge; print {"published": true, "session": ID}
//   call       call NS.ARG with (2, 3), retrying while the procedure is unknown (at most 60 s);
//              print {"result": R} or {"error": URI}
//   calls      call NS.shared ARG times; print {"results": [R, ...]}
//   stream     call NS.stream(ARG) with receive_progress; print {"calling": true},
//              {"progress": X} per progressive result, then {"result": R} or {"error": URI};
//              then, after one more round trip to the router (wamp.session.count), print
//              {"after": true, "late": K}, K the progressive results that came after the end
//   hang       call NS.hang; print {"calling": true}, then {"error": URI} or {"result": R}
import autobahn from 'autobahn';
import { Wampy } from 'wampy';
import { JsonSerializer } from 'wampy/JsonSerializer.js';
import WebSocket from 'ws';

const [lib, mode, url, ns, arg] = process.argv.slice(2);

function out(d) { console.log(JSON.stringify(d)); }

// Both libraries behind one small interface: register(uri, fn, options) where fn(args,
// {procedure, progress}) returns the result (or a promise of it) and progress, when the caller
// asked for progressive results, sends one; subscribe(uri, fn(arg0, publisher)); publish(uri,
// arg) acknowledged; call(uri, args, onProgress) resolves to the first result value or rejects
// with {error: URI}.
function openAutobahn() {
  return new Promise((resolve, reject) => {
    const conn = new autobahn.Connection({ url, realm: 'realm1', serializers: [new autobahn.serializer.JSONSerializer()], max_retries: 0 });
    conn.onopen = (s) => resolve({
      id: () => s.id,
      register: (uri, fn, options) => s.register(uri, (args, kwargs, details) =>
        fn(args || [], { procedure: details.procedure, progress: details.progress ? (x) => details.progress([x]) : null }), options),
      subscribe: (uri, fn) => s.subscribe(uri, (args, kwargs, details) => fn((args || [])[0], details.publisher)),
      publish: (uri, x) => s.publish(uri, [x], {}, { acknowledge: true, disclose_me: true }),
      call: (uri, args, onProgress) => new Promise((ok, fail) => {
        s.call(uri, args, {}, onProgress ? { receive_progress: true } : {}).then(ok,
          (e) => fail({ error: e.error || String(e) }), onProgress);
      }),
    });
    conn.onclose = (reason, details) => {
      reject(new Error(`closed: ${reason} ${JSON.stringify(details)}`));
      console.error(`cluster.mjs: closed: ${reason} ${JSON.stringify(details)}`);
      process.exit(1);
    };
    conn.open();
  });
}

async function openWampy() {
  const wp = new Wampy(url, {
    realm: 'realm1', ws: WebSocket, serializer: new JsonSerializer(), autoReconnect: false,
    onClose: () => { console.error('cluster.mjs: wampy closed'); process.exit(1); },
  });
  await wp.connect();
  return {
    id: () => wp.getSessionId(),
    register: (uri, fn, options) => wp.register(uri, async ({ argsList, details, result_handler: send }) => ({
      argsList: [await fn(argsList || [], {
        procedure: details.procedure,
        progress: details.receive_progress ? (x) => send({ argsList: [x], options: { progress: true } }) : null,
      })],
    }), options),
    subscribe: (uri, fn) => wp.subscribe(uri, ({ argsList, details }) => fn((argsList || [])[0], details.publisher)),
    publish: (uri, x) => wp.publish(uri, [x], { disclose_me: true }),
    call: async (uri, args, onProgress) => {
      try {
        const r = await wp.call(uri, args, onProgress ? { progress_callback: ({ argsList }) => onProgress(argsList[0]) } : {});
        return (r.argsList || [])[0];
      } catch (e) {
        throw { error: e.errorUri || String(e) };
      }
    },
  };
}

const forever = () => new Promise(() => {});
// stay: a role that serves until killed is not bound by the one-shot modes' timer.
const stay = () => { clearTimeout(timer); return forever(); };

async function main() {
  const s = lib === 'wampy' ? await openWampy() : await openAutobahn();
  switch (mode) {
    case 'callee': {
      await s.register(`${ns}.add`, (args) => args[0] + args[1]);
      await s.register(`${ns}.hang`, () => { out({ hanging: true }); return forever(); });
      await s.register(`${ns}.stream`, async (args, { progress }) => {
        if (!progress) return 'no progress asked';
        const n = args[0];
        for (let k = 1; n === 0 || k <= n; k++) {
          progress(k);
          if (n === 0) {
            out({ streamed: k });
            await new Promise((r) => setTimeout(r, 50)); // a steady stream, until killed
          }
        }
        return 'done';
      });
      out({ ready: true, session: s.id() });
      return stay();
    }
    case 'pattern':
      await s.register(`${ns}.pfx`, (args, { procedure }) => procedure, { match: 'prefix' });
      out({ ready: true });
      return stay();
    case 'shared':
      await s.register(`${ns}.shared`, () => arg, { invoke: 'roundrobin' });
      await s.register(`${ns}.marker.${arg}`, () => arg);
      out({ ready: true });
      return stay();
    case 'subscribe':
      await s.subscribe(`${ns}.topic`, (x, publisher) => out({ event: x, publisher }));
      out({ ready: true });
      return stay();
    case 'publish':
      await s.publish(`${ns}.topic`, arg);
      out({ published: true, session: s.id() });
      return undefined;
    case 'call': {
      const end = Date.now() + 60000;
      for (;;) {
        try {
          out({ result: await s.call(`${ns}.${arg}`, [2, 3]) });
          return undefined;
        } catch (e) {
          if (e.error !== 'wamp.error.no_such_procedure' || Date.now() > end) {
            out(e);
            return undefined;
          }
          await new Promise((r) => setTimeout(r, 100)); // poll: the nodes learn of each other's callees
        }
      }
    }
    case 'calls': {
      const results = [];
      for (let k = 0; k < Number(arg); k++) results.push(await s.call(`${ns}.shared`, []));
      out({ results });
      return undefined;
    }
    case 'stream': {
      let ended = false;
      let late = 0;
      out({ calling: true });
      try {
        out({ result: await s.call(`${ns}.stream`, [Number(arg)], (x) => (ended ? late++ : out({ progress: x }))) });
      } catch (e) {
        out(e);
      }
      ended = true;
      await s.call('wamp.session.count', []);
      out({ after: true, late });
      return undefined;
    }
    case 'hang':
      out({ calling: true });
      try {
        out({ result: await s.call(`${ns}.hang`, []) });
      } catch (e) {
        out(e);
      }
      return undefined;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

const timer = setTimeout(() => {
  console.error('cluster.mjs: not done within 120s');
  process.exit(2);
}, 120000);

main().then(() => {
  clearTimeout(timer);
  process.exit(0);
}, (e) => {
  console.error('cluster.mjs:', e && (e.stack || JSON.stringify(e)));
  process.exit(1);
});
