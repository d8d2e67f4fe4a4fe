// While the server cannot answer (a 5xx such as 503 during a database restart, or no
// network), polling pages say so politely; htmx keeps polling, and the first good answer
// removes the notice. The text comes translated from the script tag (data-message).
"use strict";

(() => {
  const message = document.currentScript && document.currentScript.dataset.message;
  const main = document.getElementById("main");
  if (!message || !main) return;

  // The live region exists (empty) from the start, so screen readers announce what is
  // put into it later.
  const region = document.createElement("div");
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  region.dataset.offlineNotice = "";
  main.prepend(region);

  const isPoll = (elt) => /\bevery\b/.test((elt && elt.getAttribute("hx-trigger")) || "");

  function show() {
    if (region.firstChild) return;
    const notice = document.createElement("p");
    notice.className = "notice";
    notice.textContent = message;
    region.append(notice);
  }

  function hide() {
    region.replaceChildren();
  }

  document.body.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (isPoll(event.detail.elt) && (status === 0 || status >= 500)) show();
  });
  document.body.addEventListener("htmx:sendError", (event) => {
    if (isPoll(event.detail.elt)) show();
  });
  document.body.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.successful) hide();
  });
})();
