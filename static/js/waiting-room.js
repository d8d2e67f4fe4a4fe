// Waiting room: when the server says "admitted", tell the participant even if the tab is in
// the background (title, aria-live text from the swapped fragment, optional chime), then go
// to the call as soon as the page is visible.
"use strict";

(() => {
  const room = document.querySelector("[data-waiting-room]");
  if (!room) return;
  const soundChoice = room.querySelector("[data-sound-choice]");
  const soundBox = room.querySelector("[data-sound-on-admit]");
  const originalTitle = document.title;
  let leaving = false;

  soundChoice.hidden = false; // only useful with JavaScript
  soundBox.addEventListener("change", () => {
    if (soundBox.checked) window.portalChime.unlock();
  });

  function goToCall(url) {
    if (leaving) return;
    leaving = true;
    window.location.assign(url);
  }

  function onAdmitted(status) {
    const url = status.dataset.callUrl;
    document.title = `${room.dataset.admittedTitle} – ${originalTitle}`;
    if (soundBox.checked) window.portalChime.play();
    if (document.visibilityState === "visible") {
      // A moment to read the announcement before the page changes.
      setTimeout(() => goToCall(url), 1500);
    } else {
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") setTimeout(() => goToCall(url), 1500);
      });
    }
  }

  document.body.addEventListener("htmx:afterSettle", () => {
    const status = document.querySelector("[data-admitted]");
    if (status) onAdmitted(status);
  });
})();
