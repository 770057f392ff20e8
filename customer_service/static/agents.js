/* The agents' inbox on /cs/agents/: open and claimed handoffs, a transcript, claim / reply / resolve,
 * refreshed every few seconds. Everything from the API is rendered with textContent, never as HTML:
 * visitors write the transcripts. The admin token lives in sessionStorage (this tab) only. */
(function () {
  "use strict";
  var api = document.querySelector("main").getAttribute("data-api");
  var $ = function (id) { return document.getElementById(id); };
  var selected = null;
  var timer = null;

  function el(tag, text) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function call(method, path, body) {
    var options = { method: method, headers: { Authorization: "Bearer " + sessionStorage.getItem("troika-agent-token") } };
    if (body !== undefined) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
    return fetch(api + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error((data.error && data.error.message) || ("HTTP " + response.status));
        return data;
      });
    });
  }

  function say(text) { $("status").textContent = text; }

  function showList(handoffs) {
    var list = $("handoffs");
    list.replaceChildren();
    if (!handoffs.length) list.appendChild(el("li", "No conversation is waiting for a person."));
    handoffs.forEach(function (h) {
      var item = el("li");
      var open = el("button", "#" + h.id + " " + h.status + (h.agent ? " by " + h.agent : "") + ": " + h.reason);
      open.type = "button";
      open.className = "agents__open";
      open.setAttribute("data-handoff", h.id);
      open.setAttribute("aria-current", String(h.id === selected));
      open.addEventListener("click", function () { selected = h.id; refresh(); });
      item.appendChild(open);
      list.appendChild(item);
    });
  }

  function showDetail(data) {
    $("detail").hidden = false;
    var h = data.handoff;
    $("detail-title").textContent = "Handoff #" + h.id + " (" + h.status + (h.agent ? ", " + h.agent : "") + ")";
    var transcript = $("transcript");
    transcript.replaceChildren();
    data.transcript.forEach(function (t) {
      var line = el("li", t.role + ": " + t.text);
      line.setAttribute("data-role", t.role);
      transcript.appendChild(line);
    });
    $("claim").disabled = h.status !== "open";
    $("resolve").disabled = h.status === "resolved";
  }

  function refresh() {
    clearTimeout(timer);
    Promise.all([call("GET", "/handoffs?status=open"), call("GET", "/handoffs?status=claimed")])
      .then(function (lists) {
        showList(lists[0].handoffs.concat(lists[1].handoffs));
        return selected === null ? null : call("GET", "/handoffs/" + selected).then(showDetail);
      })
      .then(function () { say(""); }, function (error) { say("Could not load the inbox: " + error.message); })
      .then(function () { timer = setTimeout(refresh, 3000); });  // live: new handoffs and visitors' messages
  }

  function act(path, body) {
    return call("POST", "/handoffs/" + selected + path, body).then(refresh, function (error) { say(error.message); });
  }

  function agent() { return sessionStorage.getItem("troika-agent-name"); }

  $("login").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem("troika-agent-token", $("token").value);
    sessionStorage.setItem("troika-agent-name", $("agent").value);
    $("token").value = "";
    refresh();
  });
  $("claim").addEventListener("click", function () { act("/claim", { agent: agent() }); });
  $("resolve").addEventListener("click", function () { act("/resolve", { agent: agent() }); });
  $("reply").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("reply-text").value.trim();
    if (!text) return;
    act("/reply", { agent: agent(), text: text }).then(function () { $("reply-text").value = ""; });
  });
  if (sessionStorage.getItem("troika-agent-token")) refresh();
})();
