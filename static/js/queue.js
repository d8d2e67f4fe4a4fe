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
  let lastFailures = null; // failures at a provider already shown ("<id>:<time>")
  let actedOn = null; // the appointment whose action (a queue form) was sent last

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
    // A failure at the provider that appeared by itself (e.g. while a participant was being
    // handed over) is said too; one the advisor's own action has just said is not repeated.
    const failures = [...queue.querySelectorAll("[data-meeting-failure]")];
    if (lastFailures !== null) {
      const announcer = document.getElementById("queue-announcer");
      const fresh = failures.find((notice) => !lastFailures.has(notice.dataset.meetingFailure));
      if (fresh && !announcer.textContent.includes(fresh.dataset.reason)) {
        announcer.textContent = [...fresh.querySelectorAll("p")]
          .map((line) => line.textContent.replace(/\s+/g, " ").trim()).join(" ");
      }
    }
    lastFailures = new Set(failures.map((notice) => notice.dataset.meetingFailure));
  }

  // After an action the button pressed may be gone (a person let in, a retry that worked):
  // focus then goes to the appointment's heading instead of falling back to the page.
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    const section = event.detail.elt.closest && event.detail.elt.closest("[data-appointment]");
    if (section && event.detail.requestConfig.verb === "post") {
      actedOn = section.dataset.appointment;
    }
  });
  document.body.addEventListener("htmx:afterSettle", () => {
    if (actedOn === null) return;
    const active = document.activeElement;
    if (!active || active === document.body || !document.contains(active)) {
      const heading = document.getElementById(`appointment-${actedOn}-title`);
      if (heading) heading.focus();
    }
    actedOn = null;
  });

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
