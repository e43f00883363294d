// netlab chat in the browser: one WebSocket to /ws, JSON messages (see
// "The WebSocket messages" in netlab's chat protocol reference).
//
// Everything people send is shown with textContent, never parsed as HTML.
"use strict";

(function () {
  const MAX_LOG = 500; // entries kept on the page
  const ROOMS_EVERY = 15000; // ms between two refreshes of the room list
  const BACKOFF_FIRST = 1000; // ms before the first reconnection
  const BACKOFF_MOST = 30000; // ms between reconnections, at most
  const TAKEN_RETRIES = 5; // a nickname still held by our old connection

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"),
    reconnect: $("reconnect"),
    login: $("login"),
    loginForm: $("login-form"),
    nick: $("nick"),
    loginButton: $("login-button"),
    loginError: $("login-error"),
    chat: $("chat"),
    roomName: $("room-name"),
    toggleSide: $("toggle-side"),
    closeSide: $("close-side"),
    log: $("log"),
    sayForm: $("say-form"),
    say: $("say"),
    side: $("side"),
    rooms: $("rooms"),
    joinForm: $("join-form"),
    joinRoom: $("join-room"),
    members: $("members"),
  };

  const state = {
    socket: null,
    nick: "", // the nickname we have, or ask for
    registered: false,
    room: null, // the room we are in
    lastRoom: null, // the room to go back to after reconnecting
    rejoin: null, // the room to go back to once registered again
    members: [],
    quitting: false, // we asked to leave: no reconnection
    attempts: 0, // reconnections since the last success
    retryTimer: null,
    retryAt: 0,
    countdown: null,
    roomsTimer: null,
    roomsSoon: null,
    taken: 0,
  };

  // Sending

  function send(message) {
    const socket = state.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return false;
    }
    socket.send(JSON.stringify(message));
    return true;
  }

  // The page

  function setStatus(text, trouble) {
    ui.status.textContent = text;
    ui.status.classList.toggle("trouble", Boolean(trouble));
  }

  function timeNow() {
    const now = new Date();
    const time = document.createElement("time");
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
    });
    return time;
  }

  function colour(nick) {
    let hash = 0;
    for (const c of nick.toLowerCase()) {
      hash = (hash * 31 + c.codePointAt(0)) >>> 0;
    }
    return "c" + (hash % 8);
  }

  function span(className, text) {
    const element = document.createElement("span");
    element.className = className;
    element.textContent = text;
    return element;
  }

  function nickSpan(nick) {
    const element = span("nick", nick);
    element.classList.add(colour(nick));
    return element;
  }

  // One entry of the log: its parts are text or elements, never HTML.
  function entry(kind, parts, earlier) {
    const atBottom =
      ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
    const item = document.createElement("li");
    item.className = kind;
    if (earlier) {
      item.classList.add("hist");
      item.append(span("when", "earlier"));
    } else {
      item.append(timeNow());
    }
    for (const part of parts) {
      item.append(" ", part);
    }
    ui.log.append(item);
    while (ui.log.childElementCount > MAX_LOG) {
      ui.log.firstElementChild.remove();
    }
    if (atBottom) {
      ui.log.scrollTop = ui.log.scrollHeight;
    }
    return item;
  }

  function note(text, kind) {
    return entry(kind || "note", [span("text", text)]);
  }

  function divider(text) {
    const item = document.createElement("li");
    item.className = "divider";
    item.textContent = text;
    ui.log.append(item);
  }

  function showMessage(event, earlier, own) {
    const kind = event.type === "act" ? "act" : "msg";
    const parts =
      kind === "act"
        ? [span("star", "*"), nickSpan(event.nick), span("text", event.text)]
        : [nickSpan(event.nick), span("text", event.text)];
    const item = entry(kind, parts, earlier);
    if (own) {
      item.classList.add("own");
    }
    item.dataset.nick = event.nick;
  }

  function showPrivate(from, to, text) {
    const item = entry("priv", [
      nickSpan(from),
      span("arrow", "\u2192"),
      nickSpan(to === state.nick ? "you" : to),
      span("text", text),
    ]);
    if (from === state.nick) {
      item.classList.add("own");
    }
  }

  function setRoom(room) {
    state.room = room;
    if (room) {
      state.lastRoom = room;
    }
    ui.roomName.textContent = room || "No room: /join one";
    document.title = room ? room + " \u2013 netlab chat" : "netlab chat";
    if (!room) {
      setMembers([]);
    }
    markCurrentRoom();
  }

  function setMembers(nicks) {
    state.members = nicks
      .slice()
      .sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    ui.members.replaceChildren(
      ...state.members.map((nick) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.append(nickSpan(nick));
        button.title =
          nick === state.nick ? "you" : "send " + nick + " a private message";
        button.addEventListener("click", () => {
          if (nick !== state.nick) {
            ui.say.value = "/msg " + nick + " ";
          }
          closeSide();
          ui.say.focus();
        });
        item.append(button);
        return item;
      }),
    );
  }

  function addMember(nick) {
    if (!state.members.includes(nick)) {
      setMembers(state.members.concat([nick]));
    }
  }

  function removeMember(nick) {
    setMembers(state.members.filter((other) => other !== nick));
  }

  function setRooms(rooms) {
    ui.rooms.replaceChildren(
      ...rooms.map(({ room, count }) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.room = room;
        button.append(span("name", room), span("count", String(count)));
        button.setAttribute(
          "aria-label",
          room + ", " + count + (count === 1 ? " person" : " people"),
        );
        button.addEventListener("click", () => {
          join(room);
          closeSide();
        });
        item.append(button);
        return item;
      }),
    );
    markCurrentRoom();
  }

  function markCurrentRoom() {
    for (const button of ui.rooms.querySelectorAll("button")) {
      const current =
        state.room !== null &&
        button.dataset.room.toLowerCase() === state.room.toLowerCase();
      button.setAttribute("aria-current", current ? "true" : "false");
    }
  }

  function refreshRooms() {
    if (state.registered) {
      send({ type: "rooms" });
    }
  }

  // The room list has no events of its own: ask again soon after anything
  // that changes it, and every so often.
  function refreshRoomsSoon() {
    if (state.roomsSoon === null) {
      state.roomsSoon = setTimeout(() => {
        state.roomsSoon = null;
        refreshRooms();
      }, 300);
    }
  }

  function showChat() {
    ui.login.hidden = true;
    ui.chat.hidden = false;
    ui.side.hidden = false;
    closeSide();
    ui.say.focus();
  }

  function showLogin(error) {
    ui.chat.hidden = true;
    ui.side.hidden = true;
    ui.login.hidden = false;
    ui.loginButton.disabled = false;
    ui.nick.disabled = false;
    if (error) {
      ui.loginError.textContent = error;
      ui.loginError.hidden = false;
      ui.nick.setAttribute("aria-invalid", "true");
    }
    ui.nick.focus();
    ui.nick.select();
  }

  function openSide() {
    ui.side.classList.remove("closed");
    ui.toggleSide.setAttribute("aria-expanded", "true");
    const first = ui.side.querySelector("#rooms button, input");
    if (first) {
      first.focus();
    }
  }

  function closeSide() {
    ui.side.classList.add("closed");
    ui.toggleSide.setAttribute("aria-expanded", "false");
  }

  // What the server sends

  const handlers = {
    msg(event) {
      showMessage(event, false, false);
    },
    act(event) {
      showMessage(event, false, false);
    },
    hist(event) {
      showMessage(event.event, true, false);
    },
    priv(event) {
      showPrivate(event.from, event.to, event.text);
    },
    join(event) {
      if (event.nick === state.nick) {
        setRoom(event.room);
        note("You joined " + event.room + ".", "event");
        send({ type: "who" });
        const back = state.rejoin;
        state.rejoin = null;
        if (back && back.toLowerCase() !== event.room.toLowerCase()) {
          join(back);
        }
      } else {
        addMember(event.nick);
        entry("event", [nickSpan(event.nick), span("text", "joined " + event.room)]);
      }
      refreshRoomsSoon();
    },
    part(event) {
      const why = event.reason ? " (" + event.reason + ")" : "";
      if (event.nick === state.nick) {
        note("You left " + event.room + why + ".", "event");
        setRoom(null);
      } else {
        removeMember(event.nick);
        entry("event", [
          nickSpan(event.nick),
          span("text", "left " + event.room + why),
        ]);
      }
      refreshRoomsSoon();
    },
    nick(event) {
      if (event.old === state.nick) {
        state.nick = event.new;
        remember(event.new);
        note("You are now " + event.new + ".", "event");
      } else {
        entry("event", [
          nickSpan(event.old),
          span("text", "is now known as " + event.new),
        ]);
      }
      if (state.members.includes(event.old)) {
        setMembers(
          state.members.map((nick) => (nick === event.old ? event.new : nick)),
        );
      }
    },
    quit(event) {
      removeMember(event.nick);
      const why = event.reason ? " (" + event.reason + ")" : "";
      entry("event", [nickSpan(event.nick), span("text", "left the chat" + why)]);
      refreshRoomsSoon();
    },
    note(event) {
      if (state.registered) {
        note(event.text);
      }
    },
    ok(event) {
      const command = event.command;
      if (command === "nick") {
        if (!state.registered) {
          registered(event.nick);
        } else {
          state.nick = event.nick;
        }
      } else if (command === "who") {
        if (event.room === state.room) {
          setMembers(event.nicks);
        }
      } else if (command === "rooms") {
        setRooms(event.rooms);
      } else if (command === "join") {
        setRoom(event.room);
      } else if (command === "part") {
        setRoom(null);
        state.lastRoom = null;
      }
    },
    err(event) {
      if (event.command === "nick" && !state.registered) {
        if (event.code === "nick-taken" && state.attempts > 0 && state.taken < TAKEN_RETRIES) {
          // After a reconnection, our old connection may still hold the
          // nickname for a moment: ask again.
          state.taken += 1;
          setTimeout(() => send({ type: "nick", nick: state.nick }), 1000);
          return;
        }
        state.attempts = 0;
        showLogin(event.text);
        return;
      }
      note(event.text, "err");
    },
  };

  function registered(nick) {
    const again = state.attempts > 0;
    state.nick = nick;
    state.registered = true;
    state.attempts = 0;
    state.taken = 0;
    remember(nick);
    ui.loginError.hidden = true;
    ui.nick.removeAttribute("aria-invalid");
    setStatus("Connected as " + nick);
    ui.reconnect.hidden = true;
    showChat();
    divider(again ? "Reconnected as " + nick : "Welcome, " + nick);
    clearInterval(state.roomsTimer);
    state.roomsTimer = setInterval(refreshRooms, ROOMS_EVERY);
    refreshRooms();
    // Back to the room we were in, once the default room's join is done.
    state.rejoin = again ? state.lastRoom : null;
  }

  function remember(nick) {
    try {
      localStorage.setItem("netlab-chat-nick", nick);
    } catch (e) {
      // Private browsing: nothing remembered.
    }
  }

  // The connection

  function connect() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdown);
    state.retryTimer = null;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      socket = new WebSocket(scheme + "//" + location.host + "/ws");
    } catch (e) {
      lost(null);
      return;
    }
    state.socket = socket;
    setStatus(state.attempts ? "Reconnecting\u2026" : "Connecting\u2026");
    socket.addEventListener("open", () => {
      socket.wasOpen = true;
      send({ type: "nick", nick: state.nick });
    });
    socket.addEventListener("message", (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (e) {
        return;
      }
      const handler = handlers[event.type];
      if (handler) {
        handler(event);
      }
    });
    socket.addEventListener("close", (close) => {
      if (state.socket === socket) {
        lost({ code: close.code, wasOpen: Boolean(socket.wasOpen) });
      }
    });
  }

  function lost(close) {
    const wasRegistered = state.registered;
    state.socket = null;
    state.registered = false;
    state.room = null;
    clearInterval(state.roomsTimer);
    if (state.quitting) {
      state.quitting = false;
      setStatus("You left the chat");
      note("You left the chat.", "event");
      showLogin("");
      return;
    }
    if (!wasRegistered && state.attempts === 0) {
      // Still choosing a nickname: nothing to reconnect to yet.
      setStatus("Not connected", true);
      ui.loginButton.disabled = false;
      if (!(close && close.wasOpen)) {
        showLogin("The chat server cannot be reached; try again in a moment.");
      }
      return;
    }
    if (close && close.code === 1001) {
      note("Disconnected: the server went away. Reconnecting once it is back.", "err");
    } else if (wasRegistered) {
      note("The connection to the server was lost. Reconnecting.", "err");
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    const delay = Math.min(
      BACKOFF_MOST,
      BACKOFF_FIRST * Math.pow(2, state.attempts),
    );
    // Jitter, so that everyone does not come back at the same instant.
    const wait = Math.round(delay * (0.75 + Math.random() * 0.5));
    state.attempts += 1;
    state.retryAt = Date.now() + wait;
    state.retryTimer = setTimeout(connect, wait);
    ui.reconnect.hidden = false;
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
      setStatus("Disconnected; reconnecting in " + seconds + " s", true);
    };
    tick();
    clearInterval(state.countdown);
    state.countdown = setInterval(tick, 1000);
  }

  // Commands typed in the message box, as on the line protocol.

  function join(room) {
    room = room.trim();
    if (room && !room.startsWith("#")) {
      room = "#" + room;
    }
    if (room) {
      divider(room);
      send({ type: "join", room: room });
    }
  }

  const commands = {
    join(args) {
      join(args);
    },
    part(args) {
      send({ type: "part", reason: args });
    },
    nick(args) {
      send({ type: "nick", nick: args.trim() });
    },
    msg(args) {
      const space = args.indexOf(" ");
      const to = space < 0 ? args : args.slice(0, space);
      const text = space < 0 ? "" : args.slice(space + 1);
      if (!to || !text.trim()) {
        note("To send a private message: /msg NICK TEXT", "err");
        return;
      }
      if (send({ type: "msg", to: to, text: text })) {
        showPrivate(state.nick, to, text);
      }
    },
    me(args) {
      if (send({ type: "me", text: args })) {
        showMessage({ type: "act", nick: state.nick, text: args }, false, true);
      }
    },
    who() {
      send({ type: "who" });
    },
    rooms() {
      send({ type: "rooms" });
      openSide();
    },
    quit(args) {
      state.quitting = true;
      send({ type: "quit", reason: args });
    },
    help() {
      for (const line of [
        "Type a line to say it to your room. Commands:",
        "/join #ROOM \u2013 go to a room (created if need be)",
        "/part [REASON] \u2013 leave your room",
        "/msg NICK TEXT \u2013 a private message",
        "/me ACTION \u2013 act (shown as * you ACTION)",
        "/nick NAME \u2013 change your nickname",
        "/who, /rooms \u2013 who is here, which rooms there are",
        "/quit [REASON] \u2013 leave",
        "//TEXT \u2013 say a line that starts with /",
      ]) {
        note(line);
      }
    },
  };

  function said(line) {
    if (line.startsWith("/") && !line.startsWith("//")) {
      const space = line.indexOf(" ");
      const name = (space < 0 ? line.slice(1) : line.slice(1, space)).toLowerCase();
      const args = space < 0 ? "" : line.slice(space + 1);
      const command = commands[name];
      if (!command) {
        note("There is no /" + name + " command; try /help", "err");
        return;
      }
      command(args);
      return;
    }
    const text = line.startsWith("//") ? line.slice(1) : line;
    if (!text.trim()) {
      return;
    }
    if (!state.room) {
      note("You are in no room; /join one first", "err");
      return;
    }
    if (send({ type: "say", text: text })) {
      showMessage({ type: "msg", nick: state.nick, text: text }, false, true);
    }
  }

  // Wiring

  ui.loginForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    const nick = ui.nick.value.trim();
    if (!nick) {
      showLogin("Type a nickname first.");
      return;
    }
    ui.loginError.hidden = true;
    ui.loginButton.disabled = true;
    state.nick = nick;
    state.quitting = false;
    state.attempts = 0;
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      send({ type: "nick", nick: nick });
    } else {
      connect();
    }
    // Enabled again if the nickname is refused.
    setTimeout(() => {
      ui.loginButton.disabled = state.registered;
    }, 3000);
  });

  ui.sayForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    const line = ui.say.value;
    if (!state.registered) {
      note("Not connected to the server yet; wait a moment.", "err");
      return;
    }
    ui.say.value = "";
    said(line);
  });

  ui.joinForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    if (ui.joinRoom.value.trim()) {
      join(ui.joinRoom.value);
      ui.joinRoom.value = "";
      closeSide();
      ui.say.focus();
    }
  });

  ui.toggleSide.addEventListener("click", () => {
    if (ui.side.classList.contains("closed")) {
      openSide();
    } else {
      closeSide();
      ui.toggleSide.focus();
    }
  });

  ui.closeSide.addEventListener("click", () => {
    closeSide();
    ui.say.focus();
  });

  document.addEventListener("keydown", (key) => {
    if (key.key === "Escape" && !ui.side.classList.contains("closed")) {
      closeSide();
      ui.say.focus();
    }
  });

  ui.reconnect.addEventListener("click", () => {
    if (!state.socket) {
      connect();
    }
  });

  try {
    ui.nick.value = localStorage.getItem("netlab-chat-nick") || "";
  } catch (e) {
    // Private browsing: nothing remembered.
  }
  ui.nick.focus();
})();
