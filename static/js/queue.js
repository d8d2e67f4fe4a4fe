// Advisor's queue: when the number of waiting people rises, say so in the title, in a live
// region, with a chime (if on) and a browser notification (if allowed). Nothing personal is
// put into the notification: it appears outside the browser.
"use strict";

(() => {
  const settings = document.querySelector("[data-queue-settings]");
  if (!settings) return;
  const soundBox = settings.querySelector("[data-queue-sound]");
  const notifyButton = settings.querySelector("[data-queue-notifications]");
  const baseTitle = document.title.replace(/^\(\d+\)\s*/, "");
  const text = (key, n) =>
    document.querySelector(`template[data-text="${key}"]`).innerHTML.trim().replace("{n}", n);
  let lastCount = null;
  let lastStatus = null; // appointment id -> status, as last shown

  settings.hidden = false;
  soundBox.checked = localStorage.getItem("queue-sound") !== "off";
  soundBox.addEventListener("change", () => {
    localStorage.setItem("queue-sound", soundBox.checked ? "on" : "off");
  });
  // Browsers allow sound only after the first interaction with the page.
  ["click", "keydown"].forEach((type) =>
    document.addEventListener(type, () => window.portalChime.unlock(), { once: true }));

  if (!("Notification" in window) || Notification.permission !== "default") {
    notifyButton.hidden = true;
  }
  notifyButton.addEventListener("click", async () => {
    await Notification.requestPermission();
    notifyButton.hidden = true;
  });

  function check() {
    const queue = document.getElementById("queue");
    if (!queue) return;
    const count = Number(queue.dataset.waitingCount || 0);
    document.title = count > 0 ? `(${count}) ${baseTitle}` : baseTitle;
    if (lastCount !== null && count > lastCount) {
      // Looked up each time: htmx out-of-band swaps may replace its content.
      document.getElementById("queue-announcer").textContent = text("now-waiting", count);
      if (soundBox.checked) window.portalChime.play();
      if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
        new Notification(text("notification", count));
      }
    }
    lastCount = count;
    // A participant who cancels disappears from the waiting room: say it, not just a tag.
    // Only an appointment seen before as not cancelled counts (the list also changes at
    // midnight and when a waiting room opens).
    const status = new Map([...queue.querySelectorAll("[data-appointment]")]
      .map((section) => [section.dataset.appointment, section.dataset.status]));
    if (lastStatus !== null && [...status].some(([id, now]) =>
      now === "cancelled" && lastStatus.has(id) && lastStatus.get(id) !== "cancelled")) {
      document.getElementById("queue-announcer").textContent = text("cancelled");
    }
    lastStatus = status;
  }

  document.body.addEventListener("htmx:afterSettle", check);
  // A sent message clears its field (the field survives swaps through hx-preserve).
  document.body.addEventListener("htmx:afterRequest", (event) => {
    // The form itself was swapped out; requestConfig still names it.
    const source = event.detail.requestConfig && event.detail.requestConfig.elt;
    const form = source && source.closest && source.closest("[data-message-form]");
    if (form && event.detail.successful) {
      const field = document.getElementById(`message-${form.dataset.messageForm}`);
      if (field) field.value = "";
    }
  });
  check();
})();
