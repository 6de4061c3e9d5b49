// wdbot web: live parts over server-sent events, confirmations, and the login link.
// Our own ~80 lines, served from 'self' (the CSP allows no inline script and nothing else).
"use strict";

(function () {
  var MAX_LOG_LINES = 500;

  function flash(text, bad) {
    var box = document.getElementById("flash");
    if (!box) { return; }
    box.textContent = text;
    box.className = bad ? "flash bad" : "flash";
    box.hidden = false;
  }

  // The login link carries the secret after '#': it never reaches a server log.
  function loginFromLink() {
    var form = document.getElementById("login-form");
    if (!form || location.hash.length < 2) { return; }
    document.getElementById("secret").value = decodeURIComponent(location.hash.slice(1));
    history.replaceState(null, "", location.pathname);
    form.submit();
  }

  function appendLog(pre, lines, reset) {
    var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    if (reset) { pre.textContent = ""; }
    pre.appendChild(document.createTextNode(lines.map(function (l) { return l + "\n"; }).join("")));
    var text = pre.textContent.split("\n");
    if (text.length > MAX_LOG_LINES + 1) { pre.textContent = text.slice(-MAX_LOG_LINES - 1).join("\n"); }
    if (atBottom || reset) { pre.scrollTop = pre.scrollHeight; }
  }

  function live() {
    var box = document.querySelector("[data-live]");
    if (!box || !window.EventSource) { return; }
    var source = new EventSource(box.getAttribute("data-live"));
    // Same-origin fragments rendered (and escaped) by the server's templates.
    source.addEventListener(box.getAttribute("data-event"), function (e) { box.innerHTML = e.data; });
    var pre = document.getElementById("log");
    if (pre) {
      source.addEventListener("logreset", function (e) { appendLog(pre, JSON.parse(e.data), true); });
      source.addEventListener("log", function (e) { appendLog(pre, JSON.parse(e.data), false); });
    }
    document.body.setAttribute("data-live-ready", "1");
  }

  // Actions: the browser's confirmation, then a POST in the background; the page stays and
  // its live part shows the state changing. Without script the server asks instead.
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        if (!window.confirm(form.getAttribute("data-confirm"))) { return; }
        var data = new FormData(form);
        data.set("confirm", "yes");
        if (form.hasAttribute("data-plain")) {
          var yes = document.createElement("input");
          yes.type = "hidden"; yes.name = "confirm"; yes.value = "yes";
          form.appendChild(yes);
          form.submit();
          return;
        }
        flash(form.getAttribute("data-confirm").replace("?", "") + ": working...", false);
        fetch(form.action, {method: "POST", body: data, credentials: "same-origin",
                            headers: {"Accept": "application/json"}})
          .then(function (r) { return r.json().catch(function () { return {ok: false, message: r.statusText}; }); })
          .then(function (j) { flash(j.message, !j.ok); })
          .catch(function (err) { flash(String(err), true); });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    loginFromLink();
    live();
    confirmations();
  });
})();
