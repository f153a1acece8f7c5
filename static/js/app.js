// Higgs: the little the pages need beyond htmx. Enter to send, a growing composer,
// polling paused in background tabs, scrolling to the newest message, and plain error notices.
(function () {
  "use strict";

  function grow(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight, 240) + "px";
  }

  // Enter sends, Shift+Enter adds a line (and nothing is sent while an IME is composing).
  document.addEventListener("keydown", function (event) {
    var textarea = event.target;
    if (!textarea.matches || !textarea.matches("textarea[data-enter-send]")) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (textarea.value.trim()) textarea.form.requestSubmit();
    }
  });

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-autogrow]")) grow(event.target);
  });

  var toast;
  function notify(text) {
    toast = toast || document.getElementById("toast");
    if (!toast) return;
    toast.textContent = text;
    toast.hidden = false;
    window.clearTimeout(notify.timer);
    notify.timer = window.setTimeout(function () { toast.hidden = true; }, 6000);
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (event.detail.successful && form.matches && form.matches("form[data-reset-on-success]")) {
      form.reset();
      var textarea = form.querySelector("textarea");
      if (textarea) { grow(textarea); textarea.focus(); }
      var error = form.querySelector(".error");
      if (error) error.textContent = "";
    }
  });

  // Polling pauses while the tab is hidden, and catches up at once when it is shown again.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (document.hidden && event.detail.elt.hasAttribute("data-poll")) event.preventDefault();
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && window.htmx) window.htmx.trigger(document.body, "higgs:wake");
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) notify("Your session has expired. Reload the page and log in again.");
    else if (status === 404) notify("That is no longer here. Reload the page to see what is.");
    else notify("Something went wrong on our side. Try again in a moment.");
  });
  document.addEventListener("htmx:sendError", function () {
    notify("Could not reach Higgs. Check your connection and try again.");
  });

  // Keep the newest message in view when one is added.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "messages") {
      var users = event.detail.target.querySelectorAll(".message.user"), last = users[users.length - 1];
      if (last) last.scrollIntoView({ block: "start", behavior: "smooth" });
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var sidebar = document.querySelector("[data-sidebar]");
    if (sidebar && window.matchMedia("(max-width: 760px)").matches) sidebar.open = false;
    if (document.getElementById("messages") && !window.location.hash) window.scrollTo(0, document.body.scrollHeight);
  });
})();
