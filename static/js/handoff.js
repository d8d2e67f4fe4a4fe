// Hand-off page: open the provider's join URL in this tab as soon as the page is visible (a
// tab in the background waits until it is looked at). Coming back here with the browser's
// Back button opens nothing by itself, so Back is no trap; the link stays for that case.
// The page saying that the provider cannot be reached asks again in the background and
// reloads only once it can (no timed reload that would interrupt reading).
"use strict";

(() => {
  const retry = document.querySelector("[data-handoff-retry]");
  if (retry) {
    const every = Number(retry.dataset.handoffRetry) * 1000;
    const ask = async () => {
      try {
        const answer = await fetch(window.location.href, { cache: "no-store" });
        if (answer.ok) {
          window.location.reload();
          return;
        }
      } catch (error) {
        // The portal itself is unreachable: ask again later.
      }
      window.setTimeout(ask, every);
    };
    window.setTimeout(ask, every);
    return;
  }

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
