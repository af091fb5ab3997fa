// The managers' page: live counters over server-sent events; nothing else needs a script.
"use strict";
(function () {
  const live = document.querySelector("[data-live]");
  if (!live || !window.EventSource) return;
  let overdue = null;
  const status = document.querySelector("[data-live-status]");
  const source = new EventSource(live.getAttribute("data-live"));
  source.addEventListener("counts", function (event) {
    const data = JSON.parse(event.data);
    for (const [name, value] of Object.entries(data.counts)) {
      const cell = document.querySelector('[data-count="' + name + '"]');
      if (cell && cell.textContent !== String(value)) cell.textContent = String(value);
    }
    if (overdue !== null && overdue !== data.overdue) refreshOverdue();
    overdue = data.overdue;
    if (status) status.dataset.at = new Date().toISOString();
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) window.location.reload();
  });
  function refreshOverdue() {
    const holder = document.getElementById("overdue-list");
    if (!holder) return;
    fetch(holder.getAttribute("data-fragment"), { credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) { if (html !== null && html !== undefined) holder.innerHTML = html; });
  }
})();
