// The queue's page kept live: when the server says the queue changed (server-sent events), the page
// fetches itself again and replaces its counts and list in place, without a reload.
(function () {
  "use strict";
  var zone = document.getElementById("file-live");
  if (!zone || !window.EventSource) {
    return;
  }
  var flux = new EventSource(zone.getAttribute("data-flux"));
  flux.addEventListener("file", function () {
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (answer) { return answer.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("file-live");
        if (fresh) {
          zone.innerHTML = fresh.innerHTML;
        }
      });
  });
})();
