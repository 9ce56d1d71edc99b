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

// A file deposit: the file as the body of one request, its progress shown, then what was accepted and
// refused, with the error report's link.
(function () {
  "use strict";
  var form = document.getElementById("depot");
  if (!form) {
    return;
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = document.getElementById("fichier").files[0];
    var progress = document.getElementById("progression");
    var result = document.getElementById("resultat");
    if (!file) {
      return;
    }
    var request = new XMLHttpRequest();
    request.open("POST", "/console/depot");
    request.setRequestHeader("X-CSRF", form.getAttribute("data-csrf"));
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        progress.value = Math.round((e.loaded / e.total) * 100);
      }
    });
    request.addEventListener("load", function () {
      progress.value = 100;
      result.textContent = "";
      var p = document.createElement("p");
      var answer = null;
      try { answer = JSON.parse(request.responseText); } catch (e) { answer = null; }
      if (request.status === 200 && answer) {
        p.id = "bilan";
        p.textContent = answer.received + " ligne(s) reçue(s) : " + answer.accepted + " acceptée(s), " +
          answer.rejected + " refusée(s).";
        result.appendChild(p);
        if (answer.rapport_erreurs) {
          var a = document.createElement("a");
          a.href = answer.rapport_erreurs;
          a.id = "rapport";
          a.textContent = "Télécharger le rapport des lignes refusées";
          result.appendChild(a);
        }
      } else {
        p.className = "fr-alert fr-alert--error";
        p.textContent = "Le fichier est refusé : " + (answer && answer.message ? answer.message : request.status);
        result.appendChild(p);
      }
    });
    request.send(file);
  });
})();
