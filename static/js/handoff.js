// Hand-off page: open the provider's join URL in this tab as soon as the page is visible (a
// tab in the background waits until it is looked at). Coming back here with the browser's
// Back button opens nothing by itself, so Back is no trap; the link stays for that case.
"use strict";

(() => {
  const link = document.querySelector("[data-handoff]");
  if (!link) return;
  const navigation = performance.getEntriesByType("navigation")[0];
  if (navigation && navigation.type === "back_forward") return;
  let gone = false;

  function go() {
    if (gone || document.visibilityState !== "visible") return;
    gone = true;
    window.location.assign(link.href);
  }

  document.addEventListener("visibilitychange", go);
  go();
})();
