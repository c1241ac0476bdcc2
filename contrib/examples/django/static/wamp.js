// A WAMP client in a few lines, over the browser's WebSocket and the wamp.2.json subprotocol,
// so that the example needs no JavaScript library (real apps use autobahn-js). Message codes
// from the WAMP spec (draft-ietf-wamp-spec, "Message Codes and Direction"):
// HELLO 1, WELCOME 2, ABORT 3, PUBLISH 16, SUBSCRIBE 32, SUBSCRIBED 33, EVENT 36.
(function () {
  "use strict";
  var TOPIC = "mysite.hello";
  var status = document.getElementById("status");
  var button = document.getElementById("hello");
  var events = document.getElementById("events");
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  var ws = new WebSocket(url, ["wamp.2.json"]);
  var nextRequest = 1;
  var session = null;

  function send(msg) { ws.send(JSON.stringify(msg)); }

  ws.onopen = function () {
    send([1, "realm1", { roles: { publisher: {}, subscriber: {} } }]);
  };
  ws.onmessage = function (e) {
    var msg = JSON.parse(e.data);
    switch (msg[0]) {
      case 2: // WELCOME [2, Session|id, Details|dict]
        session = msg[1];
        status.textContent = "joined realm1 as session " + session;
        send([32, nextRequest++, {}, TOPIC]);
        break;
      case 33: // SUBSCRIBED
        button.disabled = false;
        break;
      case 36: // EVENT [36, Subscription|id, Publication|id, Details|dict, Arguments|list]
        var li = document.createElement("li");
        li.textContent = String((msg[4] || [])[0]);
        events.appendChild(li);
        break;
      case 3: // ABORT [3, Details|dict, Reason|uri]
        status.textContent = "refused: " + msg[2];
        break;
    }
  };
  ws.onclose = function () {
    status.textContent = "closed";
    button.disabled = true;
  };
  button.onclick = function () {
    // exclude_me=false: the publisher sees its own event too.
    send([16, nextRequest++, { exclude_me: false }, TOPIC,
          ["hello from session " + session + " at " + new Date().toLocaleTimeString()]]);
  };
})();
