// Small behaviours the pages share. Loaded as a file: the Content Security Policy forbids inline scripts.
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  onReady(function () {
    // A <select data-autosubmit> submits its form when changed (the button stays for keyboard users).
    document.body.addEventListener("change", function (event) {
      var target = event.target;
      if (target.matches && target.matches("select[data-autosubmit]") && target.form) target.form.submit();
    });

    // <button data-copy-target="#id"> copies the text of the element it names.
    document.body.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("[data-copy-target]");
      if (!button) return;
      var source = document.querySelector(button.getAttribute("data-copy-target"));
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = "Copied";
      });
    });

    // <span data-countdown-seconds="N"> inside a .retry-wait counts the wait down each second,
    // from when it appeared on the page (parts swapped in later start their own count).
    window.setInterval(function () {
      var now = Date.now();
      document.querySelectorAll("[data-countdown-seconds]").forEach(function (element) {
        if (!element.hasAttribute("data-countdown-end")) {
          var seconds = parseInt(element.getAttribute("data-countdown-seconds"), 10) || 0;
          element.setAttribute("data-countdown-end", String(now + seconds * 1000 - 1000));
        }
        var left = Math.ceil((parseInt(element.getAttribute("data-countdown-end"), 10) - now) / 1000);
        var wait = element.closest(".retry-wait");
        if (left > 0) element.textContent = String(left);
        else if (wait) wait.textContent = "you can retry now.";
      });
    }, 1000);
  });
})();
