// The sale's reservation clock: counts the minutes left down while the page stays open.
// The page says the same without it (the server writes the time and the minutes left).
(function () {
  "use strict";
  function tick() {
    document.querySelectorAll(".minutes-left[data-expires]").forEach(function (el) {
      var left = Date.parse(el.dataset.expires) - Date.now();
      if (left <= 0) {
        el.textContent = el.dataset.ended;
        el.classList.add("expired");
        return;
      }
      el.textContent = el.dataset.template.replace("{minutes}", String(Math.ceil(left / 60000)));
    });
  }
  tick();
  window.setInterval(tick, 15000);
})();
