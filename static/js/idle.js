// Warns a signed-in advisor before the idle sign-out and offers "Stay signed in".
// Without this file the sign-out still happens on the server; this only warns.
"use strict";

(() => {
  const dialog = document.getElementById("idle-warning");
  if (!dialog) return;
  const idle = Number(dialog.dataset.idleSeconds) * 1000;
  const warning = Number(dialog.dataset.warningSeconds) * 1000;
  const statusUrl = dialog.dataset.statusUrl;
  const form = dialog.querySelector("form");
  let returnFocus = null;
  let timer = null;

  // Out of the navigation list, so it can be positioned and read on its own.
  document.body.append(dialog);

  const schedule = (ms, fn) => {
    clearTimeout(timer);
    timer = setTimeout(fn, Math.max(0, ms));
  };

  const signedOut = () => {
    // The server has ended the session by now and answers with the sign-in page and why.
    window.location.reload();
  };

  const hide = () => {
    dialog.hidden = true;
    if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
    returnFocus = null;
  };

  const show = (left) => {
    if (dialog.hidden) {
      returnFocus = document.activeElement;
      dialog.hidden = false;
      dialog.focus();
    }
    // A second late, so the server (whole seconds) surely counts the time as over.
    schedule(left + 1000, signedOut);
  };

  // Another tab may have been active: ask the server (as a poll, which is not activity).
  const check = async () => {
    let left = 0;
    try {
      const response = await fetch(statusUrl, {
        headers: { "HX-Request": "true", Accept: "application/json" },
        credentials: "same-origin", cache: "no-store",
      });
      if (response.ok && !response.headers.get("HX-Redirect")) {
        left = (await response.json()).seconds_left * 1000;
      }
    } catch (err) {
      left = warning; // offline: warn, the server decides
    }
    if (left <= 0) signedOut();
    else if (left > warning + 1000) { hide(); schedule(left - warning, check); }
    else show(left);
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = form.querySelector("input[name=csrf_token]").value;
    try {
      const response = await fetch(form.action, {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRFToken": token, "X-Requested-With": "fetch" },
      });
      if (response.status !== 204) { signedOut(); return; }
    } catch (err) {
      return; // keep the dialog; the button can be pressed again
    }
    hide();
    schedule(idle - warning, check);
  });

  dialog.addEventListener("keydown", (event) => {
    if (event.key === "Escape") form.requestSubmit();
  });

  schedule(idle - warning, check);
})();
