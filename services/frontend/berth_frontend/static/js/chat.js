// Berth chat: the live conversation view of the panel and the support desk (no framework, no
// inline script: the CSP forbids it). One client per <section data-chat> on the page.
//
// PostgreSQL is the source of truth and every message has a per-conversation seq: the client
// remembers the highest seq it has shown, subscribes "after" it (on every reconnect too), and
// drops anything it already has by seq, so a reconnect neither misses nor repeats a message.
// A message typed here is shown as "sending" until the server's ack; unacked ones are sent
// again after a reconnect with the same client_msg_id (the server answers the same ack, never
// a second message). Text is always set with textContent: a body is never parsed as HTML.
(function () {
  "use strict";

  var clients = [];
  var TYPING_SHOWN_MS = 5000;
  var TYPING_SENT_EVERY_MS = 3000;
  var MAX_BACKOFF_MS = 30000;
  var STOP_CODES = { 4403: "You cannot open this conversation.", 1008: "The connection was refused by policy." };

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  function newId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function actionButton(name, label, className) {
    var button = el("button", className, label);
    button.type = "button";
    button.setAttribute("data-chat-action", name);
    return button;
  }

  // as the server renders times (web/templating.py): "2026-11-30 09:00 UTC"
  function timeOf(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return isNaN(d.getTime()) ? "" : d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function ChatClient(root) {
    this.root = root;
    this.conversationId = root.getAttribute("data-conversation-id");
    this.viewerId = root.getAttribute("data-viewer-id");
    this.viewerKind = root.getAttribute("data-viewer-kind"); // customer | staff
    this.agentName = root.getAttribute("data-agent-name") || "Agent";
    this.wsPath = root.getAttribute("data-ws-path");
    this.historyUrl = root.getAttribute("data-history-url");
    this.list = root.querySelector("[data-chat-messages]");
    this.form = root.querySelector("[data-chat-form]");
    this.input = root.querySelector("[data-chat-input]");
    this.statusLine = root.querySelector("[data-chat-status]");
    this.typingLine = root.querySelector("[data-chat-typing]");
    this.earlier = root.querySelector("[data-chat-earlier]");
    this.bySeq = {};
    this.pending = {}; // client_msg_id -> {body, node}
    this.pendingOrder = [];
    this.lastSeq = 0;
    this.firstSeq = 0;
    this.theirReadSeq = 0;
    this.sentReadSeq = 0;
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this.lastTypingSent = 0;
    this.typingTimer = null;
    this.retryTimer = null;
    this.adopt();
    this.bind();
    this.connect();
  }

  // the messages the server rendered into the page: their seqs are known already
  ChatClient.prototype.adopt = function () {
    var self = this;
    Array.prototype.forEach.call(this.list.querySelectorAll("[data-seq]"), function (node) {
      var seq = parseInt(node.getAttribute("data-seq"), 10);
      if (!seq) return;
      self.bySeq[seq] = node;
      self.lastSeq = Math.max(self.lastSeq, seq);
      self.firstSeq = self.firstSeq ? Math.min(self.firstSeq, seq) : seq;
    });
    var read = parseInt(this.root.getAttribute("data-their-read-seq") || "0", 10);
    if (read) this.markRead(read);
    this.scrollDown();
  };

  ChatClient.prototype.bind = function () {
    var self = this;
    if (this.form) {
      this.form.addEventListener("submit", function (event) {
        event.preventDefault();
        self.submit();
      });
      this.input.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.shiftKey) {
          event.preventDefault();
          self.submit();
        }
      });
      this.input.addEventListener("input", function () { self.typing(); });
    }
    if (this.earlier) {
      this.earlier.addEventListener("click", function () { self.loadEarlier(); });
    }
    this.root.addEventListener("click", function (event) {
      var action = event.target.closest("[data-chat-action]");
      if (action) self.runAction(action.getAttribute("data-chat-action"), action);
    });
    document.addEventListener("visibilitychange", function () { self.sendRead(); });
  };

  ChatClient.prototype.url = function () {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + this.wsPath;
  };

  ChatClient.prototype.setStatus = function (text, kind) {
    if (!this.statusLine) return;
    this.statusLine.textContent = text;
    this.statusLine.setAttribute("data-state", kind || "");
  };

  ChatClient.prototype.connect = function () {
    if (this.stopped) return;
    var self = this;
    var ws;
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      this.reconnectLater();
      return;
    }
    this.ws = ws;
    var opened = false;
    this.setStatus(this.attempt ? "Reconnecting…" : "Connecting…", "connecting");
    ws.onopen = function () {
      if (self.ws !== ws) return;
      opened = true;
      self.attempt = 0;
      self.setStatus("Connected", "open");
      self.root.setAttribute("data-connected", "1");
      self.sendFrame({ type: "subscribe", conversation_id: self.conversationId, after_seq: self.resumeSeq() });
      self.pendingOrder.forEach(function (id) { self.sendPending(id); });
      self.sendRead();
    };
    ws.onmessage = function (event) {
      if (self.ws !== ws) return;
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      self.receive(frame);
    };
    ws.onclose = function (event) {
      if (self.ws !== ws) return;
      self.ws = null;
      self.root.removeAttribute("data-connected");
      if (self.stopped) return;
      if (STOP_CODES[event.code]) {
        self.stopped = true;
        self.setStatus(STOP_CODES[event.code], "closed");
        return;
      }
      // 4401: the access token expired on an open socket; a refused upgrade (the gateway
      // answers 401 to an expired cookie) shows as 1006 before any open
      if (event.code === 4401 || (!opened && event.code === 1006)) {
        self.renewThenReconnect();
        return;
      }
      self.reconnectLater();
    };
  };

  // any page of the frontend renews the session cookie; then the socket is tried again
  ChatClient.prototype.renewThenReconnect = function () {
    var self = this;
    fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401 || (r.redirected && /\/login/.test(r.url))) {
          self.stopped = true;
          self.setStatus("Your session ended: sign in again.", "closed");
          return;
        }
        self.reconnectLater();
      }, function () { self.reconnectLater(); });
  };

  // after a reconnect: from the last seq shown, or from before an answer still streaming (its
  // final text comes again by seq)
  ChatClient.prototype.resumeSeq = function () {
    var from = this.lastSeq;
    var streaming = this.list.querySelectorAll("[data-status='streaming'][data-seq]");
    Array.prototype.forEach.call(streaming, function (node) {
      from = Math.min(from, parseInt(node.getAttribute("data-seq"), 10) - 1);
    });
    return Math.max(from, 0);
  };

  ChatClient.prototype.reconnectLater = function () {
    if (this.stopped || this.retryTimer) return;
    var self = this;
    var delay = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, this.attempt));
    delay = delay / 2 + Math.random() * delay / 2;
    this.attempt += 1;
    this.setStatus("Disconnected: reconnecting in " + Math.ceil(delay / 1000) + " s…", "connecting");
    this.retryTimer = setTimeout(function () {
      self.retryTimer = null;
      self.connect();
    }, delay);
  };

  ChatClient.prototype.stop = function () {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.ws) {
      var ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
  };

  ChatClient.prototype.sendFrame = function (frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  };

  ChatClient.prototype.receive = function (frame) {
    switch (frame.type) {
      case "message":
      case "message_update":
        this.addMessage(frame.message || frame, true);
        break;
      case "message_delta":
        this.appendDelta(frame);
        break;
      case "ack":
        this.acked(frame);
        break;
      case "typing":
        this.showTyping(frame);
        break;
      case "read":
        if (String(frame.participant_id || frame.user_id || "") !== this.viewerId) this.markRead(frame.seq || frame.last_read_seq);
        break;
      case "error":
        this.refused(frame);
        break;
      case "ping":
        this.sendFrame({ type: "pong" }); // the server closes a silent socket (4408)
        break;
      default:
        break;
    }
  };

  ChatClient.prototype.who = function (m) {
    var mine = this.viewerId && String(m.sender_id || "") === this.viewerId;
    switch (m.sender_kind) {
      case "customer":
        return this.viewerKind === "customer" ? "You" : "Customer";
      case "staff":
        return mine ? "You" : "Support";
      case "agent":
        return this.agentName;
      default:
        return "Berth";
    }
  };

  ChatClient.prototype.render = function (m) {
    var mine = this.viewerId && String(m.sender_id || "") === this.viewerId;
    var node = el("li", "message chat-message message-" + (m.sender_kind || "system") + (mine ? " mine" : ""));
    var head = el("header", "message-head");
    head.appendChild(el("strong", "", this.who(m)));
    head.appendChild(el("span", "muted", timeOf(m.created_at)));
    var state = el("span", "chat-state muted");
    state.setAttribute("data-chat-state", "");
    head.appendChild(state);
    node.appendChild(head);
    node.appendChild(el("div", "message-body chat-body", m.body || ""));
    this.fill(node, m);
    return node;
  };

  ChatClient.prototype.fill = function (node, m) {
    if (m.seq) node.setAttribute("data-seq", m.seq);
    if (m.id) node.setAttribute("data-id", m.id);
    node.setAttribute("data-status", m.status || "complete");
    var body = node.querySelector(".chat-body");
    if (m.body !== undefined && m.body !== null && body.textContent !== m.body) body.textContent = m.body;
    var actions = m.actions || [];
    if (actions.length && this.viewerKind === "customer" && !node.querySelector(".chat-actions")) {
      var box = el("div", "chat-actions");
      if (actions.indexOf("switch_to_support") >= 0) box.appendChild(actionButton("switch_to_support", "Talk to support", "btn btn-primary btn-small"));
      if (actions.indexOf("open_ticket") >= 0) box.appendChild(actionButton("open_ticket", "Open a ticket", "btn btn-ghost btn-small"));
      node.appendChild(box);
    }
  };

  // a message by seq: new ones are placed in seq order, known ones updated (never twice)
  ChatClient.prototype.addMessage = function (m, live) {
    if (!m || !m.seq) return;
    if (m.conversation_id && m.conversation_id !== this.conversationId) return;
    var known = this.bySeq[m.seq];
    if (!known && m.client_msg_id && this.pending[m.client_msg_id] && String(m.sender_id || "") === this.viewerId) {
      known = this.confirm(m.client_msg_id, m.seq, m.id);
    }
    if (known) {
      this.fill(known, m);
      return;
    }
    var node = this.render(m);
    this.place(node, m.seq);
    this.bySeq[m.seq] = node;
    this.firstSeq = this.firstSeq ? Math.min(this.firstSeq, m.seq) : m.seq;
    if (m.seq > this.lastSeq) {
      this.lastSeq = m.seq;
      if (live) this.scrollDown();
    }
    if (live && m.sender_kind === "system") this.refreshState(); // a handoff, a close
    if (live && String(m.sender_id || "") !== this.viewerId) {
      this.clearTyping();
      this.sendRead();
    }
  };

  ChatClient.prototype.place = function (node, seq) {
    var children = this.list.querySelectorAll("[data-seq]");
    for (var i = 0; i < children.length; i++) {
      if (parseInt(children[i].getAttribute("data-seq"), 10) > seq) {
        this.list.insertBefore(node, children[i]);
        return;
      }
    }
    var firstPending = this.list.querySelector(".pending");
    this.list.insertBefore(node, firstPending);
  };

  ChatClient.prototype.appendDelta = function (frame) {
    var node = (frame.seq && this.bySeq[frame.seq]) ||
      (frame.message_id && this.list.querySelector("[data-id='" + String(frame.message_id).replace(/[^0-9a-f-]/gi, "") + "']"));
    if (!node) {
      if (frame.message) this.addMessage(frame.message, true);
      node = frame.seq && this.bySeq[frame.seq];
      if (!node) return;
    }
    var body = node.querySelector(".chat-body");
    var text = body.textContent;
    var offset = typeof frame.offset === "number" ? frame.offset : text.length;
    // a piece belongs at `offset`; one past the end means a piece was missed: the final
    // message (by seq, on update or resume) brings the whole text
    if (offset <= text.length) body.textContent = text.slice(0, offset) + (frame.delta || "");
    node.setAttribute("data-status", frame.done ? "complete" : "streaming");
    this.clearTyping();
    this.scrollDown();
  };

  ChatClient.prototype.submit = function () {
    var text = this.input.value.replace(/\s+$/, "");
    if (!text.trim()) return;
    var id = newId();
    var node = this.render({ sender_kind: this.viewerKind, sender_id: this.viewerId, body: text, created_at: new Date().toISOString() });
    node.classList.add("pending");
    node.setAttribute("data-client-msg-id", id);
    node.querySelector("[data-chat-state]").textContent = "sending…";
    this.list.appendChild(node);
    this.pending[id] = { body: text, node: node };
    this.pendingOrder.push(id);
    this.input.value = "";
    this.scrollDown();
    this.sendPending(id);
  };

  ChatClient.prototype.sendPending = function (id) {
    var item = this.pending[id];
    if (!item) return;
    this.sendFrame({ type: "send", conversation_id: this.conversationId, client_msg_id: id, body: item.body });
  };

  ChatClient.prototype.confirm = function (clientMsgId, seq, id) {
    var item = this.pending[clientMsgId];
    if (!item) return null;
    delete this.pending[clientMsgId];
    this.pendingOrder = this.pendingOrder.filter(function (x) { return x !== clientMsgId; });
    var node = item.node;
    node.classList.remove("pending");
    node.querySelector("[data-chat-state]").textContent = "";
    if (this.bySeq[seq]) { // the message came before its ack: keep one
      node.remove();
      return this.bySeq[seq];
    }
    node.setAttribute("data-seq", seq);
    if (id) node.setAttribute("data-id", id);
    node.remove();
    this.place(node, seq);
    this.bySeq[seq] = node;
    if (seq > this.lastSeq) this.lastSeq = seq;
    if (seq <= this.theirReadSeq) node.classList.add("read");
    return node;
  };

  ChatClient.prototype.acked = function (frame) {
    if (!frame.client_msg_id || !frame.seq) return;
    this.confirm(frame.client_msg_id, frame.seq, frame.id);
  };

  ChatClient.prototype.refused = function (frame) {
    var code = frame.code || "error";
    var message = frame.message || code.replace(/_/g, " ");
    var item = frame.client_msg_id && this.pending[frame.client_msg_id];
    if (item) {
      // refused for good (too big, closed, not allowed): it will not be sent again
      delete this.pending[frame.client_msg_id];
      this.pendingOrder = this.pendingOrder.filter(function (x) { return x !== frame.client_msg_id; });
      item.node.classList.remove("pending");
      item.node.classList.add("failed");
      item.node.querySelector("[data-chat-state]").textContent = "not sent: " + message;
      if (code === "rate_limited") {
        item.node.querySelector("[data-chat-state]").textContent = "not sent: too many messages, wait a moment";
      }
      return;
    }
    this.setStatus(message, "error");
  };

  ChatClient.prototype.typing = function () {
    var now = Date.now();
    if (now - this.lastTypingSent < TYPING_SENT_EVERY_MS) return;
    if (this.sendFrame({ type: "typing", conversation_id: this.conversationId })) this.lastTypingSent = now;
  };

  ChatClient.prototype.showTyping = function (frame) {
    if (!this.typingLine) return;
    if (String(frame.sender_id || frame.user_id || "") === this.viewerId) return;
    var who = this.who({ sender_kind: frame.sender_kind, sender_id: frame.sender_id });
    this.typingLine.textContent = who + " is typing…";
    var self = this;
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(function () { self.clearTyping(); }, TYPING_SHOWN_MS);
  };

  ChatClient.prototype.clearTyping = function () {
    if (this.typingLine) this.typingLine.textContent = "";
  };

  ChatClient.prototype.sendRead = function () {
    if (document.visibilityState === "hidden" || this.lastSeq <= this.sentReadSeq) return;
    if (this.sendFrame({ type: "read", conversation_id: this.conversationId, seq: this.lastSeq })) this.sentReadSeq = this.lastSeq;
  };

  // the other side has read up to seq: my messages up to it are marked read
  ChatClient.prototype.markRead = function (seq) {
    seq = parseInt(seq, 10);
    if (!seq || seq <= this.theirReadSeq) return;
    this.theirReadSeq = seq;
    Array.prototype.forEach.call(this.list.querySelectorAll(".mine[data-seq]"), function (node) {
      if (parseInt(node.getAttribute("data-seq"), 10) <= seq) node.classList.add("read");
    });
  };

  ChatClient.prototype.refreshState = function () {
    var self = this;
    var url = this.root.getAttribute("data-conversation-url");
    if (!url) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (conversation) { if (conversation) self.stateChanged(conversation); })
      .catch(function () {});
  };

  ChatClient.prototype.stateChanged = function (conversation) {
    var labels = { human: "with a person", bot: "bot", closed: "closed" };
    if (!conversation || !labels[conversation.state]) return;
    this.root.setAttribute("data-state", conversation.state);
    document.querySelectorAll("[data-chat-badge]").forEach(function (badge) {
      badge.textContent = labels[conversation.state];
      badge.className = "badge badge-" + (conversation.state === "human" ? "ok" : "neutral");
    });
    if (conversation.state === "closed" && this.form) this.form.hidden = true;
  };

  ChatClient.prototype.loadEarlier = function () {
    var self = this;
    if (!this.historyUrl || !this.firstSeq || this.loading) return;
    this.loading = true;
    var limit = 50;
    var url = this.historyUrl + "?before_seq=" + this.firstSeq + "&limit=" + limit;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      })
      .then(function (page) {
        var items = Array.isArray(page) ? page : (page.items || []);
        var height = self.list.scrollHeight;
        items.forEach(function (m) { self.addMessage(m, false); });
        self.list.scrollTop += self.list.scrollHeight - height;
        var more = page.has_more !== undefined ? page.has_more : items.length >= limit;
        if (!more || self.firstSeq <= 1) (self.earlier.closest("li") || self.earlier).hidden = true;
      })
      .catch(function () { self.setStatus("Earlier messages could not be loaded; try again.", "error"); })
      .then(function () { self.loading = false; });
  };

  // an action a system notice offers: a POST to the frontend, which answers with a redirect
  // to where it leads (the new support chat, the new ticket)
  ChatClient.prototype.runAction = function (name, button) {
    var target = { switch_to_support: "data-start-support-url", open_ticket: "data-ticket-url" }[name];
    var url = target && this.root.getAttribute(target);
    if (!url) return;
    var self = this;
    button.disabled = true;
    var body = new URLSearchParams();
    body.set("csrf_token", csrfToken());
    fetch(url, { method: "POST", credentials: "same-origin", body: body })
      .then(function (r) {
        if (!r.ok || !r.redirected) throw new Error("status " + r.status);
        window.location.assign(r.url);
      })
      .catch(function () {
        button.disabled = false;
        self.setStatus("That did not work; try again in a moment.", "error");
      });
  };

  ChatClient.prototype.scrollDown = function () {
    this.list.scrollTop = this.list.scrollHeight;
  };

  function start(scope) {
    if (!scope || !scope.querySelectorAll) return;
    var found = scope.matches && scope.matches("[data-chat]") ? [scope] : [];
    Array.prototype.push.apply(found, scope.querySelectorAll("[data-chat]"));
    found.forEach(function (root) {
      if (root.chatClient) return;
      root.chatClient = new ChatClient(root);
      clients.push(root.chatClient);
    });
  }

  // a conversation leaving the page (htmx navigation) closes its socket
  function sweep() {
    clients = clients.filter(function (client) {
      if (document.body.contains(client.root)) return true;
      client.stop();
      return false;
    });
  }

  document.addEventListener("htmx:afterSwap", sweep);
  document.addEventListener("htmx:load", function (event) { start(event.detail.elt); });
  window.addEventListener("pagehide", function () { clients.forEach(function (c) { c.stop(); }); });
  // back to a page kept in the browser's cache: its sockets were closed, so load it afresh
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && clients.length) window.location.reload();
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { start(document); });
  } else {
    start(document);
  }
})();
