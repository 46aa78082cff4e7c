// Progressive enhancement only: every journey works without JavaScript.
import { initAll } from "../nhsuk/nhsuk-frontend.min.js";

initAll();

// Pages that poll for progress mark a region with data-poll-url; it is refreshed in place.
for (const region of document.querySelectorAll("[data-poll-url]")) {
  const interval = Number(region.dataset.pollInterval || 2000);
  const poll = async () => {
    if (region.dataset.pollDone === "true") return;
    const response = await fetch(region.dataset.pollUrl, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (response.ok) {
      const html = await response.text();
      const next = new DOMParser().parseFromString(html, "text/html").querySelector("[data-poll-url]");
      if (next) {
        region.innerHTML = next.innerHTML;
        region.dataset.pollDone = next.dataset.pollDone || "false";
      }
    }
    if (region.dataset.pollDone !== "true") setTimeout(poll, interval);
  };
  setTimeout(poll, interval);
}
