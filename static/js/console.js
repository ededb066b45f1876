// The interact console on the inspector. Turns answered at once arrive through htmx; in stream
// mode the same forms are posted with fetch to the streaming view, whose server-sent events are
// read from the response body and appended as they arrive. Every piece of HTML inserted here
// was rendered, and escaped, by the server.
(function () {
  "use strict";

  var streamingNow = false;

  function transcript() {
    return document.getElementById("console-transcript");
  }

  function streamMode() {
    var checked = document.querySelector("#console-options input[name=mode]:checked");
    return !!checked && checked.value === "stream";
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function scrollToEnd() {
    var box = transcript();
    box.scrollTop = box.scrollHeight;
  }

  function removePlaceholder() {
    var empty = transcript().querySelector(".console-empty");
    if (empty) empty.remove();
  }

  // Appends server-rendered HTML at the end of `container`; returns the last element added.
  function appendHtml(container, html) {
    container.insertAdjacentHTML("beforeend", html);
    var added = container.lastElementChild;
    if (added && window.htmx) window.htmx.process(added);
    scrollToEnd();
    return added;
  }

  // A new turn is on screen: only its buttons answer the conversation as it is now.
  function startTurn(turn) {
    transcript().querySelectorAll(".console-turn").forEach(function (other) {
      if (other === turn) return;
      other.querySelectorAll("form.trace-button button").forEach(function (button) {
        button.disabled = true;
        button.title = "An earlier answer: its buttons are no longer offered";
      });
    });
    scrollToEnd();
  }

  // Numbers the state panel refreshes: when turns follow each other quickly, the answers to
  // their refreshes can arrive out of order, and only the latest turn's may fill the panel.
  var latestRefresh = 0;

  // The turn is over: refresh the inspector's state panel with what the turn changed.
  function finishTurn(turn) {
    turn.classList.remove("streaming");
    var end = turn.querySelector("[data-refresh]");
    if (!end || !document.getElementById("live-state")) return;
    var refresh = ++latestRefresh;
    fetch(end.getAttribute("data-refresh"), {
      credentials: "same-origin",
      headers: { "HX-Request": "true" },
    })
      .then(function (response) {
        return response.text();
      })
      .then(function (html) {
        var panel = document.getElementById("live-state");
        if (refresh !== latestRefresh || !panel) return;
        // Through htmx, so the out-of-band parts of the answer (the header's buttons, the
        // set-variable panel's title and its based_on) are refreshed with the state.
        window.htmx.swap(panel, html, { swapStyle: "outerHTML", swapDelay: 0, settleDelay: 20 });
      });
  }

  function completionIn(turn, messageId) {
    var found = null;
    turn.querySelectorAll("[data-message-id]").forEach(function (element) {
      if (element.getAttribute("data-message-id") === messageId) found = element;
    });
    return found;
  }

  function showBroken(turn) {
    var template = document.getElementById("console-stream-broken");
    if (template) appendHtml(turn || transcript(), template.innerHTML);
    if (turn) turn.classList.remove("streaming");
  }

  // Reads `event:`/`data:` blocks from a streamed body, calling onEvent(name, data) for each.
  function readEvents(body, onEvent) {
    var reader = body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";

    function dispatch() {
      var boundary = buffer.indexOf("\n\n");
      while (boundary !== -1) {
        var block = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + 2);
        var name = "message";
        var data = [];
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event:") === 0) name = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
        });
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
        boundary = buffer.indexOf("\n\n");
      }
    }

    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) {
          buffer += decoder.decode();
          dispatch();
          return;
        }
        buffer += decoder.decode(chunk.value, { stream: true });
        dispatch();
        return pump();
      });
    }
    return pump();
  }

  function streamTurn(formData) {
    var url = document.getElementById("console").getAttribute("data-stream-url");
    var turn = null;
    var ended = false;
    streamingNow = true;
    document.getElementById("console").classList.add("busy");

    function onEvent(name, data) {
      if (name === "turn") {
        removePlaceholder();
        turn = appendHtml(transcript(), data.html);
        startTurn(turn);
      } else if (name === "trace") {
        appendHtml(turn.querySelector(".console-traces"), data.html);
      } else if (name === "delta") {
        var growing = completionIn(turn, data.into);
        if (growing) appendHtml(growing.querySelector(".completion-text"), data.html);
      } else if (name === "completed") {
        var done = completionIn(turn, data.into);
        if (done) done.classList.remove("growing");
      } else if (name === "problem") {
        ended = true;
        appendHtml(turn, data.html);
        turn.classList.remove("streaming");
      } else if (name === "end") {
        ended = true;
        appendHtml(turn, data.html);
        finishTurn(turn);
      }
    }

    fetch(url, {
      method: "POST",
      body: new URLSearchParams(formData),
      headers: { "X-CSRFToken": csrfToken(), Accept: "text/event-stream" },
      credentials: "same-origin",
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("text/event-stream") === 0) {
          return readEvents(response.body, onEvent).then(function () {
            if (!ended) showBroken(turn);
          });
        }
        return response.text().then(function (html) {
          // Anything but a console turn (the sign-in page after the session expired): reload.
          if (html.indexOf("data-console-fragment") === -1) {
            window.location.reload();
            return;
          }
          removePlaceholder();
          appendHtml(transcript(), html);
        });
      })
      .catch(function () {
        showBroken(turn);
      })
      .then(function () {
        streamingNow = false;
        document.getElementById("console").classList.remove("busy");
      });
  }

  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  onReady(function () {
    if (!document.getElementById("console")) return;

    // In stream mode a console form goes to the streaming view instead of its htmx request.
    document.body.addEventListener("htmx:configRequest", function (event) {
      var form = event.detail.elt;
      if (!form.closest || !form.closest("[data-console-turn]") || !streamMode()) return;
      event.preventDefault();
      if (streamingNow) return;
      streamTurn(event.detail.formData);
      if (form.classList.contains("console-text-form")) form.reset();
    });

    document.body.addEventListener("htmx:beforeSwap", function (event) {
      var target = event.detail.target;
      if (!target || !target.closest || !target.closest("#console")) return;
      if (event.detail.serverResponse.indexOf("data-console-fragment") === -1) {
        event.detail.shouldSwap = false;
        window.location.reload();
        return;
      }
      // Refused input answers 400 with the message to show.
      if (event.detail.xhr.status === 400) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      }
      if (target.id === "console-transcript") removePlaceholder();
    });

    document.body.addEventListener("htmx:afterSwap", function (event) {
      // htmx.swap (the state panel's refresh, above) reports no target.
      if (!event.detail.target || event.detail.target.id !== "console-transcript") return;
      scrollToEnd();
      var turns = transcript().querySelectorAll(".console-turn");
      var turn = turns[turns.length - 1];
      // A refused or failed turn sent nothing: the previous answer's buttons still apply.
      if (!turn || !turn.querySelector(".console-traces")) return;
      startTurn(turn);
      finishTurn(turn);
    });

    // The runtime has no v4 routes: a turn offered again as a legacy turn switches the console
    // to "Answer at once", so the next turns go that way too.
    document.body.addEventListener("htmx:configRequest", function (event) {
      var form = event.detail.elt;
      if (!form.matches || !form.matches("form[data-legacy-offer]")) return;
      var reply = document.querySelector("#console-options input[name=mode][value=reply]");
      if (reply) reply.checked = true;
    });

    // A sent text is cleared, ready for the next one.
    document.body.addEventListener("htmx:afterRequest", function (event) {
      var form = event.detail.elt;
      if (event.detail.successful && form.classList && form.classList.contains("console-text-form")) {
        form.reset();
      }
    });
  });
})();
