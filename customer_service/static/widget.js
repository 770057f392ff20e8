/* troika support chat widget. Embed with one line:
 *   <script src="https://support.example.com/cs/widget.js" data-title="Help" data-color="#0a7" defer></script>
 * Options (all optional): data-server (the app's URL, default: where this script came from),
 * data-title, data-color (accent), data-text-color. Every message is rendered with
 * textContent, never as HTML, so nothing a visitor, the bot or an agent writes can run as code. */
(function () {
  "use strict";
  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var scriptUrl = new URL(script ? script.src : "/cs/widget.js", window.location.href);
  var server = data.server ? new URL(data.server, window.location.href).href.replace(/\/$/, "") : scriptUrl.href.replace(/\/widget\.js(\?.*)?$/, "");
  var base = new URL(server + "/widget.js");
  var api = server + "/api";
  var colour = /^(#[0-9a-f]{3,8}|[a-z]{3,20})$/i;
  var storageKey = "troika-chat-session:" + api;
  var sessionId = null;
  var lastId = 0;
  var shown = {};
  var pollTimer = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  var css = el("link");
  css.rel = "stylesheet";
  css.href = base.href.replace(/widget\.js(\?.*)?$/, "static/customer_service/widget.css");
  document.head.appendChild(css);

  var root = el("div", "troika-chat");
  root.setAttribute("data-troika-chat", "");
  var panel = el("section", "troika-chat__panel");
  panel.id = "troika-chat-panel";
  panel.setAttribute("aria-label", "Support chat");
  var header = el("h2", "troika-chat__header", (data.title || "Support").slice(0, 60));
  if (data.color && colour.test(data.color)) root.style.setProperty("--troika-accent", data.color);
  if (data.textColor && colour.test(data.textColor)) root.style.setProperty("--troika-on-accent", data.textColor);
  var log = el("div", "troika-chat__log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  var form = el("form", "troika-chat__form");
  var input = el("input", "troika-chat__input");
  input.type = "text";
  input.maxLength = 4000;
  input.placeholder = "Type your question";
  input.setAttribute("aria-label", "Your message");
  var send = el("button", "troika-chat__send", "Send");
  send.type = "submit";
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(form);
  var toggle = el("button", "troika-chat__toggle", "Chat with us");
  toggle.type = "button";
  toggle.setAttribute("aria-expanded", "false");
  toggle.setAttribute("aria-controls", panel.id);
  root.appendChild(panel);
  root.appendChild(toggle);

  function request(method, path, body) {
    var options = { method: method, headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(api + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error((data.error && data.error.message) || ("HTTP " + response.status));
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function notice(text) {
    log.appendChild(el("div", "troika-chat__msg troika-chat__msg--notice", text));
    log.scrollTop = log.scrollHeight;
  }

  function safeUrl(url) {
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function vote(turnId, helpful, button, other) {
    request("POST", "/sessions/" + encodeURIComponent(sessionId) + "/feedback", { turn_id: turnId, helpful: helpful })
      .then(function () {
        button.setAttribute("aria-pressed", "true");
        other.setAttribute("aria-pressed", "false");
      })
      .catch(function (error) { notice("Could not send your feedback: " + error.message); });
  }

  function show(turn) {
    if (shown[turn.id]) return;
    shown[turn.id] = true;
    lastId = Math.max(lastId, turn.id);
    var node = el("div", "troika-chat__msg troika-chat__msg--" + turn.role);
    node.setAttribute("data-role", turn.role);
    if (turn.path) node.setAttribute("data-path", turn.path);
    node.appendChild(el("span", "troika-chat__text", turn.text));
    if (turn.sources && turn.sources.length) {
      var sources = el("span", "troika-chat__meta troika-chat__sources", "Source: ");
      turn.sources.forEach(function (source, i) {
        var href = source.url ? safeUrl(source.url) : null;
        var link = href ? el("a", null, source.title) : el("span", null, source.title);
        if (href) { link.href = href; link.target = "_blank"; link.rel = "noopener noreferrer"; }
        if (i) sources.appendChild(document.createTextNode(", "));
        sources.appendChild(link);
      });
      node.appendChild(sources);
    }
    if (turn.choices && turn.choices.length) {
      var choices = el("div", "troika-chat__choices");
      turn.choices.forEach(function (choice) {
        var button = el("button", "troika-chat__choice", choice);
        button.type = "button";
        button.addEventListener("click", function () { submit(choice); });
        choices.appendChild(button);
      });
      node.appendChild(choices);
    }
    if (turn.role === "bot" && turn.path !== "handoff") {
      var meta = el("span", "troika-chat__meta");
      var up = el("button", "troika-chat__vote", "Helpful");
      var down = el("button", "troika-chat__vote", "Not helpful");
      [up, down].forEach(function (b) { b.type = "button"; b.setAttribute("aria-pressed", "false"); });
      up.addEventListener("click", function () { vote(turn.id, true, up, down); });
      down.addEventListener("click", function () { vote(turn.id, false, down, up); });
      meta.appendChild(up);
      meta.appendChild(down);
      node.appendChild(meta);
    }
    if (turn.role === "agent") node.appendChild(el("span", "troika-chat__meta", "a member of our team"));
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
  }

  function poll() {
    if (!sessionId) return;
    request("GET", "/sessions/" + encodeURIComponent(sessionId) + "/messages?after=" + lastId)
      .then(function (data) {
        data.messages.forEach(show);
        schedulePoll(data.status === "handoff" ? 3000 : 0);
      })
      .catch(function () { schedulePoll(10000); });
  }

  function schedulePoll(delay) {
    clearTimeout(pollTimer);
    // Only while a person has the conversation do replies arrive without a question.
    if (delay) pollTimer = setTimeout(poll, delay);
  }

  function remember(id) {
    sessionId = id;
    try { window.localStorage.setItem(storageKey, id); } catch (e) { /* private mode: the session lasts the page */ }
  }

  function newClientId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "m-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
  }

  function deliver(text, clientId, attempt) {
    var body = { message: text, client_id: clientId };
    if (sessionId) body.session_id = sessionId;
    return request("POST", "/chat", body)
      .catch(function (error) {
        // A network failure may have reached the server: resending with the same id is safe.
        if (error.status === undefined && attempt < 3) {
          return new Promise(function (r) { setTimeout(r, 1000 * attempt); }).then(function () { return deliver(text, clientId, attempt + 1); });
        }
        throw error;
      });
  }

  function submit(text) {
    text = text.trim();
    if (!text) return;
    send.disabled = true;
    input.value = "";
    deliver(text, newClientId(), 1)
      .then(function (exchange) {
        remember(exchange.session_id);
        show(exchange.message);
        if (exchange.turn) show(exchange.turn);
        if (exchange.notice) notice(exchange.notice);
        schedulePoll(exchange.handoff ? 3000 : 0);
      })
      .catch(function (error) {
        if (error.status === 404) { sessionId = null; try { window.localStorage.removeItem(storageKey); } catch (e) {} }
        input.value = text;
        notice(error.status === undefined
          ? "We cannot reach the support server right now; your message was not sent. Please try again in a moment."
          : "Your message was not sent: " + error.message);
      })
      .then(function () { send.disabled = false; input.focus(); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit(input.value);
  });
  function setOpen(open) {
    root.classList.toggle("troika-chat--open", open);
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Close chat" : "Chat with us";
    // A closed panel has no height, so messages restored after a reload could not scroll it: do it on opening.
    if (open) log.scrollTop = log.scrollHeight;
    if (open) input.focus(); else toggle.focus();
  }
  toggle.addEventListener("click", function () { setOpen(!root.classList.contains("troika-chat--open")); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") setOpen(false);
  });

  function start() {
    document.body.appendChild(root);
    try { sessionId = window.localStorage.getItem(storageKey); } catch (e) { sessionId = null; }
    if (sessionId) {
      request("GET", "/sessions/" + encodeURIComponent(sessionId) + "/messages")
        .then(function (data) { data.messages.forEach(show); schedulePoll(data.status === "handoff" ? 3000 : 0); })
        .catch(function () { sessionId = null; });
    }
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
