// Runs first in <body> (a classic script, so before any module): NHS.UK frontend initialises its
// components (error summary focus, skip link, header menu) only on a body marked as supported.
document.body.classList.add("js-enabled");
if ("noModule" in HTMLScriptElement.prototype) {
  document.body.classList.add("nhsuk-frontend-supported");
}
