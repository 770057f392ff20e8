/* The recommender's demo page: calls the gorse API exactly as a client would (X-API-Key,
   X-API-Version: 2) and shows what it answers, the X-Troika-Source header included.
   The key is asked for once and kept in this tab's sessionStorage, never in a URL.
   Everything from the data is put in the page with textContent: nothing here assigns innerHTML. */
(function () {
  "use strict";
  const KEY_STORE = "troika.rec.apiKey";
  const USER_STORE = "troika.rec.user";
  const N = 10;
  const SOURCES = {
    content: "from this user's clicks",
    profile: "from this user's profile text",
    popular: "the fallback: nothing is known about this user yet",
    model: "ranked by the trained click model",
    fallback: "the click model's fallback: no click of this user is known to it",
  };
  const $ = (id) => document.getElementById(id);
  const api = document.body.dataset.api;
  const status = $("rec-status");
  const keyForm = $("rec-key-form");
  const keyInput = $("rec-key");
  const forget = $("rec-forget");
  const app = $("rec-app");
  const picker = $("rec-user");
  const itemForm = $("rec-item-form");
  const items = new Map(); // item id -> promise of the API's item (or null), so each is fetched once
  let generation = 0; // the latest user shown wins when answers cross

  class ApiError extends Error {}

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("rec-status--error", Boolean(isError));
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  async function call(method, path, payload) {
    const headers = { "X-API-Key": sessionStorage.getItem(KEY_STORE) || "", "X-API-Version": "2", Accept: "application/json" };
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(api + path, { method, headers, cache: "no-store", body: payload === undefined ? undefined : JSON.stringify(payload) });
    } catch (err) {
      throw new ApiError("Cannot reach the server: is troika running? (" + err.message + ")");
    }
    const data = await response.json().catch(() => null);
    const message = data && data.error && data.error.message;
    if (response.status === 401) throw new ApiError("The API key was refused: enter it again.", { cause: 401 });
    if (response.status === 403) throw new ApiError("The API is closed: " + (message || "the server has no API key configured"));
    if (!response.ok) throw new ApiError((message || "HTTP " + response.status) + " (" + method + " " + path + ")");
    return { data, source: response.headers.get("X-Troika-Source") || "unknown" };
  }

  function item(id) {
    if (!items.has(id)) items.set(id, call("GET", "/item/" + encodeURIComponent(id)).then((r) => r.data, () => {
      items.delete(id); // try again next time (a deleted item, or a passing failure)
      return null;
    }));
    return items.get(id);
  }

  // The item's title, with its id and any further details (categories, time) on a line below.
  function titled(li, id, found, ...details) {
    const text = el("div", "rec-text");
    text.appendChild(el("span", "rec-title", found && found.Comment ? found.Comment : id));
    const meta = el("div", "rec-meta");
    meta.append(el("span", "rec-id", id), ...details);
    text.appendChild(meta);
    li.appendChild(text);
  }

  function recommendation(user, rec, found, fresh, rank) {
    const li = el("li", "rec-item" + (fresh ? " rec-item--new" : ""));
    li.dataset.item = rec.Id;
    li.appendChild(el("span", "rec-rank", rank + "."));
    titled(li, rec.Id, found, el("span", "rec-cats", found ? found.Categories.join(", ") : ""));
    li.appendChild(el("span", "rec-score", rec.Score.toFixed(3)));
    const button = el("button", "rec-click", "Click");
    button.type = "button";
    button.setAttribute("aria-label", "Click " + (found && found.Comment ? found.Comment : rec.Id) + " as " + user);
    button.addEventListener("click", () => click(user, rec.Id, found));
    li.appendChild(button);
    return li;
  }

  function feedback(record, found) {
    const li = el("li", "rec-item rec-item--" + record.FeedbackType);
    li.dataset.item = record.ItemId;
    li.appendChild(el("span", "rec-type", record.FeedbackType));
    titled(li, record.ItemId, found, el("span", "rec-when", record.Timestamp.slice(0, 16).replace("T", " ")));
    return li;
  }

  // Shows the picked user's recommendations and history; resolves to the recommendations' ids.
  async function show(fresh) {
    const user = picker.value;
    if (!user) return [];
    const mine = ++generation;
    sessionStorage.setItem(USER_STORE, user);
    const [recs, history] = await Promise.all([
      call("GET", "/recommend/" + encodeURIComponent(user) + "?n=" + N),
      call("GET", "/user/" + encodeURIComponent(user) + "/feedback"),
    ]);
    const recItems = await Promise.all(recs.data.map((r) => item(r.Id)));
    const historyItems = await Promise.all(history.data.map((f) => item(f.ItemId)));
    if (mine !== generation) return recs.data.map((r) => r.Id);
    $("rec-source").textContent = recs.source;
    $("rec-source-note").textContent = SOURCES[recs.source] ? "(" + SOURCES[recs.source] + ")" : "";
    $("rec-recs").replaceChildren(...recs.data.map((r, i) => recommendation(user, r, recItems[i], r.Id === fresh, i + 1)));
    $("rec-history").replaceChildren(...history.data.map((f, i) => feedback(f, historyItems[i])));
    if (!recs.data.length) $("rec-recs").appendChild(el("li", "rec-muted", "Nothing to recommend: every item is seen or hidden."));
    if (!history.data.length) $("rec-history").appendChild(el("li", "rec-muted", "No feedback yet."));
    return recs.data.map((r) => r.Id);
  }

  function failed(err) {
    say(err.message, true);
    if (err.cause === 401) {
      sessionStorage.removeItem(KEY_STORE);
      app.hidden = true;
      keyForm.hidden = false;
      forget.hidden = true;
      keyInput.focus();
    }
  }

  async function start() {
    say("Loading users…");
    const { data } = await call("GET", "/users?n=1000");
    const users = data.Users.map((u) => u.UserId);
    picker.replaceChildren(...users.map((id) => el("option", "", id)));
    const remembered = sessionStorage.getItem(USER_STORE);
    if (users.includes(remembered)) picker.value = remembered;
    keyForm.hidden = true;
    forget.hidden = false;
    app.hidden = false;
    if (!users.length) return say("No users yet: add feedback through the API (POST /rec/api/feedback) to see recommendations.");
    await show();
    say(describe(picker.value));
  }

  function describe(user) {
    const count = $("rec-recs").children.length;
    return user + ": " + count + " recommendations, source " + $("rec-source").textContent + "; " +
      $("rec-history").querySelectorAll("[data-item]").length + " feedback records in the history.";
  }

  async function click(user, id, found) {
    try {
      await call("POST", "/feedback", [{ FeedbackType: "click", UserId: user, ItemId: id }]);
      await show();
      say(user + " clicked " + (found && found.Comment ? found.Comment : id) + ": recommendations updated. " + describe(user));
    } catch (err) {
      failed(err);
    }
  }

  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!/^[\x21-\x7e]+$/.test(key)) return say("An API key is printable ASCII without spaces.", true);
    sessionStorage.setItem(KEY_STORE, key);
    keyInput.value = "";
    start().catch(failed);
  });

  forget.addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    app.hidden = true;
    forget.hidden = true;
    keyForm.hidden = false;
    keyInput.focus();
    say("The key is forgotten; enter it to start again.");
  });

  picker.addEventListener("change", () => show().then(() => say(describe(picker.value)), failed));
  $("rec-refresh").addEventListener("click", () => show().then(() => say(describe(picker.value)), failed));

  itemForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = $("rec-item-id").value.trim();
    const categories = $("rec-item-categories").value.split(",").map((c) => c.trim()).filter(Boolean);
    const payload = { ItemId: id, Comment: $("rec-item-text").value.trim(), Categories: categories, Timestamp: new Date().toISOString() };
    try {
      await call("POST", "/item", payload);
      items.delete(id);
      itemForm.reset();
      const shown = await show(id);
      const rank = shown.indexOf(id);
      const where = !picker.value ? "" : rank >= 0 ? "It is number " + (rank + 1) + " in " + picker.value + "'s recommendations."
        : "It is not in " + picker.value + "'s top " + N + ".";
      say("Added " + id + ". " + where);
    } catch (err) {
      failed(err);
    }
  });

  if (sessionStorage.getItem(KEY_STORE)) start().catch(failed);
})();
