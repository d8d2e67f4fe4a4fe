// Small progressive enhancements; every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Move focus to an error summary (or another marked element) so screen readers announce it.
  const target = document.querySelector("[data-autofocus]");
  if (target) target.focus();
});
