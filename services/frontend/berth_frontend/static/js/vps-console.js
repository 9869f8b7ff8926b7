// A VPS's console: xterm.js over deploy's console WebSocket (README: "VPS console").
// Binary frames carry the console's bytes both ways; text frames are JSON control frames
// (the server pings, we answer). The close code says why it ended.
(function () {
  "use strict";
  var REASONS = {
    1000: "closed",
    1001: "the server restarted: reconnect",
    1006: "the connection dropped",
    1008: "refused (not from this site)",
    1011: "the machine's console is not answering",
    4401: "signed out",
    4403: "refused: the console link was used or expired, or the VPS is not yours",
    4404: "the VPS was deleted",
    4408: "timed out",
    4409: "the VPS is not running",
    4410: "the machine closed its console",
    4413: "input too large",
    4423: "the VPS was suspended",
    4429: "the console was opened somewhere else",
  };

  function start() {
    var box = document.getElementById("console");
    if (!box || !window.Terminal) return;
    var state = document.getElementById("console-state");
    var again = document.getElementById("console-reconnect");
    var term = new window.Terminal({
      cursorBlink: true,
      convertEol: false,
      scrollback: 5000,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 14,
      // a guest's odd bytes (systemd's "…" inside an escape sequence, logged by xterm.js as a
      // parsing error) are its own business, not errors of the page
      logLevel: "off",
    });
    var fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box);
    fit.fit();
    window.addEventListener("resize", function () { fit.fit(); });
    again.addEventListener("click", function () { window.location.reload(); });

    function show(text, kind) {
      state.textContent = text;
      state.className = "console-state badge badge-" + kind;
    }
    var token = box.getAttribute("data-token");
    if (!token) { show("closed", "bad"); again.hidden = false; return; }
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    var url = scheme + "//" + window.location.host + "/api/deploy/v1/vps/" +
      encodeURIComponent(box.getAttribute("data-vps-id")) + "/console?token=" + encodeURIComponent(token);
    var ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    var encoder = new TextEncoder();
    ws.onopen = function () { show("connected", "ok"); term.focus(); };
    ws.onmessage = function (event) {
      if (typeof event.data === "string") {
        var frame;
        try { frame = JSON.parse(event.data); } catch (e) { return; }
        if (frame.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
        return;
      }
      term.write(new Uint8Array(event.data));
    };
    ws.onclose = function (event) {
      var why = REASONS[event.code] || ("closed (" + event.code + ")");
      show(why, event.code === 1000 ? "neutral" : "bad");
      box.setAttribute("data-closed", String(event.code));
      again.hidden = false;
    };
    term.onData(function (data) {
      if (ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
    });
    window.berthConsole = { term: term, socket: ws };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
