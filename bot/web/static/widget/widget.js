/*
 * Chat widget for the heroin withdrawal and detox assistant.
 *
 * Embed with one tag (all data- attributes are optional):
 *   <script src="https://HOST/static/widget/widget.js" defer
 *           data-title="Ask about withdrawal and detox" data-region="uk"
 *           data-position="right" data-max-chars="1000"
 *           data-exit-url="https://www.bbc.co.uk/weather"></script>
 *
 * Plain JavaScript, no framework, no third-party requests. Nothing a person typed or
 * the bot returned is ever parsed as HTML: all message content goes through
 * textContent / createElement. The conversation lives in sessionStorage only.
 *
 * data-region is the page's default region (uk or us); a visitor can change it inside the
 * widget, and that choice is kept in sessionStorage for the rest of the session. The closed
 * widget always shows the region's emergency number and crisis line as tel: links, from the
 * built-in copy below, so they show even when the web app cannot be reached.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__hdwChatWidget) return;
  window.__hdwChatWidget = true;

  // ---- configuration -----------------------------------------------------------
  var REGIONS = ["uk", "us"];
  var REGION_NAMES = { uk: "UK", us: "US" };
  var EXIT_URLS = { uk: "https://www.bbc.co.uk/weather", us: "https://weather.com" };
  // Built-in copy of data/contacts.yml, used until (or when) the server's copy cannot be
  // fetched, so the numbers show even if the web app itself is unreachable. Edit
  // contacts.yml first: tests/test_contacts_single_source.py fails until this copy equals it
  // (same keys, same order). A `text_line` is a number to text, so it gets an sms: link.
  var BUILTIN_CONTACTS = {
    uk: {
      emergency: { name: "Emergency services", number: "999", note: "ambulance, police, fire" },
      urgent: { name: "NHS 111", number: "111", note: "urgent medical help; choose the mental health option" },
      crisis_line: { name: "Samaritans", number: "116 123", note: "24/7, free" },
      text_line: { name: "SHOUT", number: "85258", note: "text SHOUT to 85258, free, 24/7" },
      helpline: { name: "FRANK", number: "0300 123 6600", note: "drugs information and advice" }
    },
    us: {
      emergency: { name: "Emergency services", number: "911", note: "ambulance, police, fire" },
      crisis_line: { name: "988 Suicide & Crisis Lifeline", number: "988", note: "call or text 988, 24/7" },
      helpline: { name: "SAMHSA National Helpline", number: "1-800-662-4357", note: "24/7, free, confidential" },
      poison_control: { name: "Poison Control", number: "1-800-222-1222", note: "24/7" }
    }
  };
  var TEXT_KEYS = ["text_line"];
  var STORAGE_KEY = "hdw-chat-v1";
  var MAX_STORED_MESSAGES = 200;
  var RETRY_DELAYS = [2, 4, 8, 16, 30]; // seconds; the last one repeats
  var REQUEST_TIMEOUT_MS = 40000;
  var ESCAPE_WINDOW_MS = 1200;

  var data = script.dataset;
  var scriptUrl = new URL(script.src, document.baseURI);
  var pageRegion = validRegion((data.region || "uk").toLowerCase()) || "uk";
  var config = {
    title: data.title || "Chat with us",
    region: pageRegion,
    position: data.position === "left" ? "left" : "right",
    maxChars: Math.max(1, parseInt(data.maxChars, 10) || 1000),
    exitUrl: safeHttpUrl(data.exitUrl),
    apiBase: safeHttpUrl(data.apiBase) || scriptUrl.origin,
    greeting: data.greeting === undefined ? "/greet" : data.greeting
  };

  function validRegion(value) {
    return REGIONS.indexOf(value) >= 0 ? value : null;
  }

  function safeHttpUrl(value) {
    if (!value) return null;
    try {
      var url = new URL(value, document.baseURI);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href.replace(/\/$/, "") : null;
    } catch (e) {
      return null;
    }
  }

  // ---- storage (sessionStorage only; failures are tolerated) ------------------------
  function newConversationId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // state.region is the visitor's own choice of region (absent until they make one); it
  // outranks the page's data-region for the rest of the session.
  function loadState() {
    try {
      var raw = window.sessionStorage.getItem(STORAGE_KEY);
      var saved = raw ? JSON.parse(raw) : null;
      if (saved && /^[0-9a-f]{32}$/.test(saved.id) && Array.isArray(saved.messages)) {
        var loaded = { id: saved.id, messages: saved.messages.filter(validStoredMessage), open: !!saved.open };
        if (validRegion(saved.region)) loaded.region = saved.region;
        return loaded;
      }
    } catch (e) { /* storage blocked or corrupt: start afresh */ }
    return { id: newConversationId(), messages: [], open: false };
  }

  function validStoredMessage(m) {
    return m && typeof m.text === "string" && (m.from === "user" || m.from === "bot");
  }

  function saveState() {
    try {
      if (!state.messages.length && !state.open && !state.region) {
        window.sessionStorage.removeItem(STORAGE_KEY);
        return;
      }
      state.messages = state.messages.slice(-MAX_STORED_MESSAGES);
      window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch (e) { /* storage full or blocked: the conversation still works in memory */ }
  }

  var state = loadState();
  if (state.region) config.region = state.region;
  var contacts = BUILTIN_CONTACTS[config.region];

  // ---- DOM helpers -------------------------------------------------------------
  var uid = "hdw-" + Math.random().toString(36).slice(2, 8);

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function srOnly(text) {
    return el("span", { className: "hdw-sr", text: text });
  }

  function telHref(number) {
    return "tel:" + number.replace(/[^\d+]/g, "");
  }

  // A phone number as a link: tel: to call it, or sms: for a number to text. `label`, when
  // given, is the accessible name; it starts with the number shown, so speech input works.
  function telLink(number, label, kind) {
    var sms = kind === "sms";
    return el("a", {
      href: sms ? "sms:" + number.replace(/[^\d+]/g, "") : telHref(number),
      className: "hdw-tel", text: number, "aria-label": label || null
    });
  }

  function contactLink(key, c) {
    var sms = TEXT_KEYS.indexOf(key) >= 0;
    return telLink(c.number, c.number + ", " + (sms ? "text " : "call ") + c.name, sms ? "sms" : "tel");
  }

  var prefersReducedMotion = window.matchMedia
    ? window.matchMedia("(prefers-reduced-motion: reduce)") : { matches: false };
  var coarsePointer = window.matchMedia
    ? window.matchMedia("(pointer: coarse)") : { matches: false };
  var narrowScreen = window.matchMedia
    ? window.matchMedia("(max-width: 600px)") : { matches: false };

  // ---- the widget's DOM ----------------------------------------------------------
  var root = el("div", { className: "hdw-root hdw-pos-" + config.position, "data-hdw": "" });
  root.hidden = true; // shown once widget.css has loaded, so nothing flashes unstyled

  var launcher = el("button", {
    type: "button", className: "hdw-launcher", "aria-expanded": "false",
    "aria-controls": uid + "-panel"
  }, [
    el("span", { className: "hdw-launcher-icon", "aria-hidden": "true" }),
    el("span", { className: "hdw-launcher-text", text: config.title })
  ]);
  // The closed widget's urgent line: visible before anyone opens the chat or types.
  var dockUrgent = el("p", { className: "hdw-dock-urgent", id: uid + "-dock-urgent" });
  var dock = el("div", { className: "hdw-dock" }, [dockUrgent, launcher]);

  var closeButton = el("button", {
    type: "button", className: "hdw-icon-button hdw-close", "aria-label": "Close chat",
    title: "Close chat"
  }, [el("span", { "aria-hidden": "true", text: "\u00d7" })]);
  var exitButton = el("button", { type: "button", className: "hdw-exit", text: "Quick exit" });
  var clearButton = el("button", { type: "button", className: "hdw-clear", text: "Clear conversation" });

  var urgent = el("p", { className: "hdw-urgent", id: uid + "-urgent" });
  var regionSelect = el("select", { id: uid + "-region", className: "hdw-region-select" },
    REGIONS.map(function (r) { return el("option", { value: r, text: REGION_NAMES[r] }); }));
  regionSelect.value = config.region;
  var urgentBar = el("div", { className: "hdw-urgent-bar" }, [
    urgent,
    el("div", { className: "hdw-region" }, [
      el("label", { for: uid + "-region", text: "Region" }),
      regionSelect
    ])
  ]);
  var hint = el("p", { className: "hdw-hint", id: uid + "-hint",
    text: "Automated assistant, not a person. Press Esc twice to leave this site quickly." });

  var log = el("div", {
    className: "hdw-log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
    "aria-label": "Conversation", tabindex: "0"
  });
  var intro = el("div", { className: "hdw-intro" }, [
    el("p", { text: "Ask anything about heroin withdrawal and detox, for yourself or someone you care about. You don't need to give your name." })
  ]);

  var typing = el("div", { className: "hdw-typing", role: "status", "aria-live": "polite" });
  var announcer = el("div", { className: "hdw-sr", role: "status", "aria-live": "assertive" });
  var politeAnnouncer = el("div", { className: "hdw-sr", role: "status", "aria-live": "polite" });

  var offlineText = el("p", { className: "hdw-offline-retry" });
  var retryButton = el("button", { type: "button", className: "hdw-retry", text: "Try again now" });
  var offlineContacts = el("ul", { className: "hdw-contacts" });
  // The words for the two kinds of trouble: the chat cannot be reached (503, no network),
  // or it is busy (429, too many messages from here). Either way the contacts show.
  var OFFLINE_WORDS = {
    down: { title: "We can't reach the chat right now.", help: "If you need to talk to someone now:" },
    busy: { title: "Lots of messages just now; please wait a moment and try again.", help: "If you're in danger now:" }
  };
  var offlineTitle = el("strong", { text: OFFLINE_WORDS.down.title });
  var offlineHelp = el("p", { className: "hdw-offline-help", text: OFFLINE_WORDS.down.help });
  var offline = el("div", { className: "hdw-offline", id: uid + "-offline", "aria-labelledby": uid + "-offline-title", role: "region" }, [
    el("p", { className: "hdw-offline-title", id: uid + "-offline-title" }, [offlineTitle]),
    offlineText,
    retryButton,
    offlineHelp,
    offlineContacts
  ]);
  offline.hidden = true;

  var errorLine = el("p", { className: "hdw-error", id: uid + "-error" });
  errorLine.hidden = true;

  var input = el("textarea", {
    id: uid + "-input", className: "hdw-input", rows: "1", maxlength: config.maxChars,
    autocomplete: "off", spellcheck: "true", enterkeyhint: "send",
    "aria-describedby": uid + "-counter " + uid + "-error",
    placeholder: "Type your question"
  });
  var counter = el("p", { className: "hdw-counter", id: uid + "-counter" });
  counter.hidden = true;
  var sendButton = el("button", { type: "submit", className: "hdw-send", text: "Send" });
  var form = el("form", { className: "hdw-form", novalidate: true }, [
    el("label", { className: "hdw-sr", for: uid + "-input", text: "Your message" }),
    el("div", { className: "hdw-input-row" }, [input, sendButton]),
    errorLine,
    el("div", { className: "hdw-form-footer" }, [clearButton, counter])
  ]);

  var titleId = uid + "-title";
  var panel = el("section", {
    id: uid + "-panel", className: "hdw-panel", role: "dialog", "aria-modal": "false",
    "aria-labelledby": titleId, "aria-describedby": uid + "-hint"
  }, [
    el("header", { className: "hdw-header" }, [
      el("h2", { className: "hdw-title", id: titleId, text: config.title }),
      el("div", { className: "hdw-header-actions" }, [exitButton, closeButton])
    ]),
    // Shrinks and scrolls, urgent numbers first, when large text leaves little room.
    el("div", { className: "hdw-top" }, [urgentBar, hint]),
    log,
    typing,
    offline,
    form
  ]);
  panel.hidden = true;

  root.appendChild(panel);
  root.appendChild(dock);
  root.appendChild(announcer);
  root.appendChild(politeAnnouncer);

  // ---- contacts ------------------------------------------------------------------
  // "Samaritans", but "the crisis line" when the name already carries the number
  // ("988 Suicide & Crisis Lifeline"), so the short line does not say the number twice.
  function crisisShortName(crisis) {
    return crisis.name && crisis.name.indexOf(crisis.number) < 0 ? crisis.name : "the crisis line";
  }

  function renderContacts() {
    var emergency = contacts.emergency || {};
    var crisis = contacts.crisis_line || {};
    urgent.textContent = "";
    urgent.appendChild(el("strong", { text: "Urgent help: " }));
    if (emergency.number) {
      urgent.appendChild(document.createTextNode("call "));
      urgent.appendChild(contactLink("emergency", emergency));
    }
    if (crisis.number) {
      // no-break space: the dot stays with the number before it when the line wraps
      urgent.appendChild(document.createTextNode("\u00a0\u00b7 " + crisis.name + " "));
      urgent.appendChild(contactLink("crisis_line", crisis));
    }

    // One short line on the closed widget: "In danger now? Call <emergency> or <crisis line>".
    dockUrgent.textContent = "";
    dockUrgent.appendChild(el("strong", { text: "In danger now?" }));
    if (emergency.number) {
      dockUrgent.appendChild(document.createTextNode(" Call "));
      dockUrgent.appendChild(contactLink("emergency", emergency));
    }
    if (crisis.number) {
      dockUrgent.appendChild(document.createTextNode(
        (emergency.number ? " or " : " Call ") + crisisShortName(crisis) + " "));
      dockUrgent.appendChild(contactLink("crisis_line", crisis));
    }

    offlineContacts.textContent = "";
    Object.keys(contacts).forEach(function (key) {
      var c = contacts[key];
      if (!c || !c.number) return;
      offlineContacts.appendChild(el("li", null, [
        el("span", { className: "hdw-contact-name", text: c.name + ": " }),
        contactLink(key, c),
        c.note ? el("span", { className: "hdw-contact-note", text: " (" + c.note + ")" }) : null
      ]));
    });
  }

  function validContacts(value) {
    if (!value || typeof value !== "object") return false;
    var keys = Object.keys(value);
    return keys.length > 0 && keys.every(function (k) {
      var c = value[k];
      return c && typeof c.name === "string" && typeof c.number === "string";
    });
  }

  function useContacts(value, forRegion) {
    if (forRegion !== config.region) return; // an answer about a region no longer chosen
    if (validContacts(value)) {
      contacts = value;
      renderContacts();
    }
  }

  function fetchContacts() {
    var asked = config.region;
    fetch(config.apiBase + "/api/contacts?region=" + encodeURIComponent(asked), {
      credentials: "omit", referrerPolicy: "no-referrer"
    }).then(function (res) {
      return res.ok ? res.json() : null;
    }).then(function (body) {
      if (body) useContacts(body.contacts, asked);
    }).catch(function () { /* the built-in copy stays */ });
  }

  // ---- region: the page's default, or the visitor's own choice -------------------------
  function setRegion(value) {
    var chosen = validRegion(value);
    if (!chosen || chosen === config.region) return;
    config.region = chosen;
    state.region = chosen;
    saveState();
    regionSelect.value = chosen;
    contacts = BUILTIN_CONTACTS[chosen];
    renderContacts();
    fetchContacts();
    var emergency = contacts.emergency || {};
    var crisis = contacts.crisis_line || {};
    announce("Region changed to " + REGION_NAMES[chosen] + ". Urgent help: call " + emergency.number +
      (crisis.number ? ", or " + crisis.name + " on " + crisis.number : "") + ".", true);
  }

  function exitUrl() {
    return config.exitUrl || EXIT_URLS[config.region];
  }

  // ---- rendering message text safely ---------------------------------------------------
  // Links are recognised in plain text and built with createElement; only http(s), tel:
  // and (for a number to text) sms: targets are ever created.
  var URL_PATTERN = /\bhttps?:\/\/[^\s<>"'()]+|\bwww\.[a-z0-9-]+(?:\.[a-z0-9-]+)+[^\s<>"'()]*/gi;

  // Every number the widget knows, longest first; `textOnly` lists the numbers to text.
  var textOnly = {};
  function knownNumbers() {
    var numbers = [];
    [BUILTIN_CONTACTS.uk, BUILTIN_CONTACTS.us, contacts].forEach(function (set) {
      Object.keys(set).forEach(function (k) {
        var n = set[k] && set[k].number;
        if (n && numbers.indexOf(n) < 0) numbers.push(n);
        if (n && TEXT_KEYS.indexOf(k) >= 0) textOnly[n] = true;
      });
    });
    return numbers.sort(function (a, b) { return b.length - a.length; });
  }

  function escapeRegExp(s) {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  function appendLinkified(parent, text, linkify) {
    if (!linkify) {
      parent.appendChild(document.createTextNode(text));
      return;
    }
    var numberPattern = knownNumbers().map(escapeRegExp).join("|");
    var pattern = new RegExp(URL_PATTERN.source + (numberPattern
      ? "|(?:^|(?<=[^\\d-]))(?:" + numberPattern + ")(?![\\d-])" : ""), "gi");
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      var found = match[0];
      var trailing = (found.match(/[.,;:!?]+$/) || [""])[0];
      found = found.slice(0, found.length - trailing.length);
      if (!found) continue;
      parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      parent.appendChild(makeLink(found));
      last = match.index + found.length;
      pattern.lastIndex = last;
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function makeLink(found) {
    if (/^[\d +-]+$/.test(found)) return telLink(found, null, textOnly[found] ? "sms" : "tel");
    var href;
    try {
      var url = new URL(/^www\./i.test(found) ? "https://" + found : found);
      if (url.protocol !== "https:" && url.protocol !== "http:") return document.createTextNode(found);
      href = url.href;
    } catch (e) {
      return document.createTextNode(found);
    }
    return el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, [
      found, srOnly(" (opens in a new tab)")
    ]);
  }

  // Paragraphs split on blank lines; lines starting with "- " or "* " become a list.
  function renderText(container, text, linkify) {
    text.replace(/\r\n?/g, "\n").split(/\n\s*\n/).forEach(function (block) {
      var lines = block.split("\n");
      var paragraph = null;
      var list = null;
      lines.forEach(function (line) {
        var bullet = /^\s*[-*\u2022]\s+(.*)$/.exec(line);
        if (bullet && linkify) {
          paragraph = null;
          if (!list) list = container.appendChild(el("ul"));
          appendLinkified(list.appendChild(el("li")), bullet[1], linkify);
        } else {
          list = null;
          if (paragraph) paragraph.appendChild(el("br"));
          else paragraph = container.appendChild(el("p"));
          appendLinkified(paragraph, line, linkify);
        }
      });
    });
  }

  // ---- conversation view ---------------------------------------------------------
  var quickReplies = null;

  function messageNode(m) {
    var isBot = m.from === "bot";
    var node = el("div", { className: "hdw-msg " + (isBot ? "hdw-msg-bot" : "hdw-msg-user") });
    node.appendChild(srOnly(isBot ? "Assistant said: " : "You said: "));
    var body = el("div", { className: "hdw-msg-body" });
    // Only the bot's text gets links; what a person typed stays exactly as typed.
    renderText(body, m.text, isBot);
    node.appendChild(body);
    if (m.pending) {
      node.classList.add("hdw-msg-pending");
      node.appendChild(el("p", { className: "hdw-msg-status", text: "Not sent yet" }));
    }
    return node;
  }

  function renderQuickReplies(buttons) {
    removeQuickReplies();
    if (!buttons || !buttons.length) return;
    quickReplies = el("div", { className: "hdw-quick", role: "group", "aria-label": "Suggested topics" });
    buttons.forEach(function (b) {
      var button = el("button", { type: "button", className: "hdw-quick-reply", text: b.title });
      button.addEventListener("click", function () {
        send(b.payload, b.title);
        // The buttons are gone now, so focus must go somewhere sensible: the input,
        // except on touch screens, where that would pop up the keyboard over the answer.
        if (coarsePointer.matches) log.focus({ preventScroll: true });
        else input.focus();
      });
      quickReplies.appendChild(button);
    });
    log.appendChild(quickReplies);
  }

  function removeQuickReplies() {
    if (quickReplies && quickReplies.parentNode) quickReplies.parentNode.removeChild(quickReplies);
    quickReplies = null;
  }

  function renderAll() {
    log.textContent = "";
    quickReplies = null;
    if (!state.messages.length) log.appendChild(intro);
    state.messages.forEach(function (m) {
      if (!m.hidden) log.appendChild(messageNode(m));
    });
    var last = state.messages[state.messages.length - 1];
    if (last && last.from === "bot") renderQuickReplies(last.buttons);
    scrollToEnd();
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function scrollToNode(node) {
    var top = node.offsetTop - 8;
    if (log.scrollTo && !prefersReducedMotion.matches) log.scrollTo({ top: top, behavior: "smooth" });
    else log.scrollTop = top;
  }

  function addMessage(m) {
    if (intro.parentNode) intro.parentNode.removeChild(intro);
    removeQuickReplies();
    state.messages.push(m);
    saveState();
    if (m.hidden) return null;
    var node = messageNode(m);
    log.appendChild(node);
    return node;
  }

  // ---- sending, offline state and retries ------------------------------------------
  var queue = [];          // user messages waiting for the server, oldest first
  var inFlight = false;
  var retryTimer = null;
  var countdownTimer = null;
  var retryAttempt = 0;
  var isOffline = false;

  function send(message, displayText) {
    message = (message || "").trim();
    if (!message) return;
    hideError();
    var m = { from: "user", text: displayText || message, pending: true };
    if (displayText && displayText !== message) m.payload = message;
    var node = addMessage(m);
    if (node) scrollToNode(node);
    queue.push(m);
    if (!isOffline) pump();
  }

  var generation = 0;     // bumped by "clear": answers for a cleared conversation are dropped

  function pump() {
    if (inFlight || !queue.length) return;
    var m = queue[0];
    var sentIn = generation;
    var sentRegion = config.region;
    inFlight = true;
    showTyping(true);
    var controller = window.AbortController ? new AbortController() : null;
    var timeout = setTimeout(function () { if (controller) controller.abort(); }, REQUEST_TIMEOUT_MS);
    fetch(config.apiBase + "/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ conversation_id: state.id, message: m.payload || m.text, region: sentRegion }),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
      signal: controller ? controller.signal : undefined
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (body) {
        return { status: res.status, ok: res.ok, body: body, retryAfter: res.headers.get("Retry-After") };
      });
    }).then(function (result) {
      clearTimeout(timeout);
      inFlight = false;
      showTyping(false);
      if (sentIn !== generation) { pump(); return; }
      if (result.ok && result.body && Array.isArray(result.body.messages)) {
        delivered(m, result.body.messages);
      } else if (result.status >= 400 && result.status < 500 && result.status !== 408 && result.status !== 429) {
        rejected(m, result.body && result.body.error);
      } else {
        failed(result.body && result.body.contacts, sentRegion, result.status === 429 ? retrySeconds(result.retryAfter) : 0);
      }
    }, function () {
      clearTimeout(timeout);
      inFlight = false;
      showTyping(false);
      if (sentIn !== generation) { pump(); return; }
      failed(null, sentRegion);
    });
  }

  function delivered(m, messages) {
    queue.shift();
    delete m.pending;
    goOnline();
    var first = null;
    messages.forEach(function (bm) {
      if (typeof bm.text !== "string" && !bm.buttons) return;
      var stored = { from: "bot", text: typeof bm.text === "string" ? bm.text : "" };
      if (Array.isArray(bm.buttons)) {
        stored.buttons = bm.buttons.filter(function (b) {
          return b && typeof b.title === "string" && typeof b.payload === "string";
        }).map(function (b) { return { title: b.title, payload: b.payload }; });
      }
      var node = addMessage(stored);
      if (!first) first = node;
    });
    if (!first && !m.hidden) {
      // Never leave a visitor with silence: say so when the bot sent nothing back.
      first = addMessage({ from: "bot", text: "Sorry, I don't have an answer for that. " +
        "You could try asking in another way." });
    }
    saveState();
    refreshPending();
    var last = state.messages[state.messages.length - 1];
    if (last && last.from === "bot") renderQuickReplies(last.buttons);
    if (first) scrollToNode(first);
    pump();
  }

  function rejected(m, error) {
    // The server refused this message (too long, invalid...): retrying will not help.
    queue.shift();
    var index = state.messages.indexOf(m);
    if (index >= 0) state.messages.splice(index, 1);
    saveState();
    renderAll();
    showError(error || "That message could not be sent.");
    if (!input.value && !m.hidden && !m.payload) input.value = m.text;
    updateCounter();
    pump();
  }

  // Retry-After in seconds (1-300), or 1 when it is missing or unreadable.
  function retrySeconds(header) {
    var seconds = parseInt(header, 10);
    return isFinite(seconds) && seconds > 0 ? Math.min(seconds, 300) : 1;
  }

  // `busyFor`: seconds the server asked us to wait (429), 0 when it could not answer.
  function failed(serverContacts, sentRegion, busyFor) {
    useContacts(serverContacts, sentRegion);
    goOffline(busyFor || 0);
  }

  function refreshPending() {
    var nodes = log.querySelectorAll(".hdw-msg-user");
    var visibleUser = state.messages.filter(function (m) { return m.from === "user" && !m.hidden; });
    visibleUser.forEach(function (m, i) {
      var node = nodes[i];
      if (!node || m.pending) return;
      node.classList.remove("hdw-msg-pending");
      var status = node.querySelector(".hdw-msg-status");
      if (status) status.parentNode.removeChild(status);
    });
  }

  function goOffline(busyFor) {
    var delay = RETRY_DELAYS[Math.min(retryAttempt, RETRY_DELAYS.length - 1)];
    if (busyFor) delay = Math.max(busyFor, Math.min(delay, busyFor * 2));
    retryAttempt += 1;
    var words = busyFor ? OFFLINE_WORDS.busy : OFFLINE_WORDS.down;
    var changed = offlineTitle.textContent !== words.title;
    offlineTitle.textContent = words.title;
    offlineHelp.textContent = words.help;
    if (!isOffline || changed) {
      isOffline = true;
      offline.hidden = false;
      root.classList.add("hdw-is-offline");
      var emergency = contacts.emergency || {};
      var crisis = contacts.crisis_line || {};
      announce(words.title + " " + (busyFor ? "If you're in danger now, call " : "If you need help now, call ") +
        (emergency.number || "") + (crisis.number ? ", or " + crisis.name + " on " + crisis.number : "") + ".");
    }
    scheduleRetry(delay);
  }

  function scheduleRetry(seconds) {
    clearTimeout(retryTimer);
    clearInterval(countdownTimer);
    var remaining = seconds;
    var show = function () {
      offlineText.textContent = "Your message is kept here. Trying again in " + remaining +
        (remaining === 1 ? " second." : " seconds.");
    };
    show();
    countdownTimer = setInterval(function () {
      remaining -= 1;
      if (remaining > 0) show();
      else clearInterval(countdownTimer);
    }, 1000);
    retryTimer = setTimeout(retryNow, seconds * 1000);
  }

  function retryNow() {
    clearTimeout(retryTimer);
    clearInterval(countdownTimer);
    if (!queue.length) { goOnline(); return; }
    offlineText.textContent = "Trying again\u2026";
    pump();
  }

  function goOnline() {
    clearTimeout(retryTimer);
    clearInterval(countdownTimer);
    retryAttempt = 0;
    if (isOffline) {
      isOffline = false;
      var hadFocus = offline.contains(document.activeElement);
      offline.hidden = true;
      root.classList.remove("hdw-is-offline");
      announce("Connected again.");
      if (hadFocus) input.focus();
    }
  }

  function showTyping(on) {
    typing.textContent = "";
    typing.classList.toggle("hdw-typing-on", on);
    if (on) {
      typing.appendChild(el("span", { className: "hdw-dots", "aria-hidden": "true" }, [
        el("span"), el("span"), el("span")
      ]));
      typing.appendChild(el("span", { className: "hdw-sr", text: "The assistant is typing" }));
    }
  }

  // `polite`: said when the screen reader is idle (a change the visitor made themselves).
  var announceTimers = {};
  function announce(text, polite) {
    var target = polite ? politeAnnouncer : announcer;
    var key = polite ? "polite" : "assertive";
    target.textContent = "";
    clearTimeout(announceTimers[key]);
    announceTimers[key] = setTimeout(function () { target.textContent = text; }, 50);
  }

  function showError(text) {
    errorLine.textContent = text;
    errorLine.hidden = false;
  }

  function hideError() {
    errorLine.hidden = true;
    errorLine.textContent = "";
  }

  // ---- input, counter --------------------------------------------------------------
  var lastThreshold = 0;

  function updateCounter() {
    var length = input.value.length;
    var ratio = length / config.maxChars;
    counter.hidden = ratio < 0.8;
    counter.textContent = length + " of " + config.maxChars + " characters";
    counter.classList.toggle("hdw-counter-full", length >= config.maxChars);
    var threshold = ratio >= 1 ? 3 : ratio >= 0.9 ? 2 : ratio >= 0.8 ? 1 : 0;
    if (threshold > lastThreshold) {
      announce(threshold === 3 ? "Character limit reached." :
        (config.maxChars - length) + " characters left.");
    }
    lastThreshold = threshold;
  }

  function autoGrow() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 160) + "px";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) {
      showError("Please type a message first.");
      input.focus();
      return;
    }
    if (text.length > config.maxChars) {
      showError("Please keep your message under " + config.maxChars + " characters.");
      return;
    }
    input.value = "";
    updateCounter();
    autoGrow();
    send(text);
    input.focus();
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });
  input.addEventListener("input", function () {
    hideError();
    updateCounter();
    autoGrow();
  });

  // ---- open, close, clear, quick exit ----------------------------------------------
  var greetingSent = false;

  function openPanel(focus) {
    panel.hidden = false;
    root.classList.add("hdw-open");
    launcher.setAttribute("aria-expanded", "true");
    state.open = true;
    saveState();
    fitToViewport();
    scrollToEnd();
    if (focus !== false) input.focus();
    greet();
  }

  // An empty conversation starts with the bot's greeting and its suggested topics.
  function greet() {
    if (state.messages.length || !config.greeting || greetingSent) return;
    greetingSent = true;
    queue.push({ from: "user", text: config.greeting, hidden: true, pending: true });
    state.messages.push(queue[queue.length - 1]);
    saveState();
    pump();
  }

  function closePanel() {
    panel.hidden = true;
    root.classList.remove("hdw-open");
    launcher.setAttribute("aria-expanded", "false");
    state.open = false;
    saveState();
    launcher.focus();
  }

  function clearConversation() {
    queue = [];
    generation += 1;
    showTyping(false);
    goOnline();
    // The region is a setting, not part of the conversation: it stays.
    state = { id: newConversationId(), messages: [], open: true, region: state.region };
    greetingSent = false;
    try { window.sessionStorage.removeItem(STORAGE_KEY); } catch (e) { /* ignore */ }
    renderAll();
    hideError();
    saveState();
    announce("Conversation cleared.");
    input.focus();
    greet();
  }

  function quickExit() {
    try { window.sessionStorage.removeItem(STORAGE_KEY); } catch (e) { /* ignore */ }
    try { window.sessionStorage.clear(); } catch (e) { /* ignore */ }
    queue = [];
    log.textContent = "";
    input.value = "";
    // replace(): the page is swapped out of the history, so Back does not return to it.
    window.location.replace(exitUrl());
  }

  launcher.addEventListener("click", function () {
    if (panel.hidden) openPanel(); else closePanel();
  });
  closeButton.addEventListener("click", closePanel);
  clearButton.addEventListener("click", clearConversation);
  exitButton.addEventListener("click", quickExit);
  retryButton.addEventListener("click", retryNow);
  regionSelect.addEventListener("change", function () { setRegion(regionSelect.value); });

  var lastEscape = 0;
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" && event.key !== "Esc") return;
    if (event.repeat) return;
    var now = Date.now();
    if (now - lastEscape < ESCAPE_WINDOW_MS) {
      lastEscape = 0;
      event.preventDefault();
      quickExit();
      return;
    }
    lastEscape = now;
    if (!panel.hidden) {
      event.preventDefault();
      closePanel();
    }
  }, true);

  // On a narrow screen the panel covers the page, so Tab stays inside it.
  panel.addEventListener("keydown", function (event) {
    if (event.key !== "Tab" || !narrowScreen.matches) return;
    var focusable = Array.prototype.filter.call(
      panel.querySelectorAll("a[href], button:not([disabled]), select, textarea, [tabindex='0']"),
      function (node) { return node.offsetParent !== null; });
    if (!focusable.length) return;
    var first = focusable[0];
    var last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });

  // ---- mobile: keep the input above the on-screen keyboard ---------------------------
  function fitToViewport() {
    var vv = window.visualViewport;
    if (!vv || !narrowScreen.matches || panel.hidden) {
      root.style.removeProperty("--hdw-vh");
      root.style.removeProperty("--hdw-vt");
      return;
    }
    root.style.setProperty("--hdw-vh", vv.height + "px");
    root.style.setProperty("--hdw-vt", vv.offsetTop + "px");
  }

  if (window.visualViewport) {
    window.visualViewport.addEventListener("resize", fitToViewport);
    window.visualViewport.addEventListener("scroll", fitToViewport);
  }
  if (narrowScreen.addEventListener) narrowScreen.addEventListener("change", fitToViewport);

  // ---- start -------------------------------------------------------------------------
  function start() {
    var stylesheet = el("link", { rel: "stylesheet", href: new URL("widget.css", scriptUrl).href });
    var reveal = function () { root.hidden = false; };
    stylesheet.addEventListener("load", reveal);
    stylesheet.addEventListener("error", reveal);
    setTimeout(reveal, 3000);
    document.head.appendChild(stylesheet);

    renderContacts();
    fetchContacts();
    document.body.appendChild(root);
    renderAll();
    updateCounter();
    // Messages that were waiting when the page was reloaded are sent again.
    state.messages.forEach(function (m) { if (m.pending) queue.push(m); });
    if (state.open) openPanel(false);
    if (queue.length) pump();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
