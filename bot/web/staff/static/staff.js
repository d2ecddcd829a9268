// Staff console: the server forgets a session after the idle timeout (counted from the last
// request). Send this page to the login screen at the same moment, so a transcript is not
// left open on an unattended screen.
(function () {
  "use strict";
  var minutes = parseFloat(document.body.getAttribute("data-idle-minutes") || "30");
  if (!(minutes > 0) || !document.querySelector("form[action='/staff/logout']")) { return; }
  setTimeout(function () { window.location.assign("/staff/login"); }, minutes * 60 * 1000 + 1000);
})();
