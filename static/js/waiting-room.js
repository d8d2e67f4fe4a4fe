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
    // Straight to the call when the page is in view: no pause to read the announcement,
    // which would add 1.5 s to every admission. The call page says where the participant
    // is (its title and heading "Video call", read out on page load, and its own live
    // status "Connecting …"), so nothing is lost for screen reader users; the
    // announcement here still serves a tab in the background (title, chime, live region),
    // which goes to the call as soon as it is looked at.
    if (document.visibilityState === "visible") {
      goToCall(url);
    } else {
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") goToCall(url);
      });
    }
  }

  document.body.addEventListener("htmx:afterSettle", () => {
    const status = document.querySelector("[data-admitted]");
    if (status) onAdmitted(status);
  });
})();
