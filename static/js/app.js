// Higgs: the little the pages need beyond htmx. Enter to send, a growing composer with a count
// near its limit, the image upload (presign, then PUT straight to storage, as the JSON API's
// clients do), the preferred mode and model kept in step, a refused message kept for another
// try, polling paused in background tabs, scrolling to the newest message, and plain notices.
(function () {
  "use strict";

  function grow(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight, 240) + "px";
  }

  // Enter sends, Shift+Enter adds a line (and nothing is sent while an IME is composing). What cannot
  // be sent (nothing written, too long) is refused by the server in words shown beside the composer.
  document.addEventListener("keydown", function (event) {
    var textarea = event.target;
    if (!textarea.matches || !textarea.matches("textarea[data-enter-send]")) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      textarea.form.requestSubmit();
    }
  });

  // The count shows near the limit, counted as the server counts: characters, without the spaces at the ends.
  function count(textarea) {
    var shown = textarea.form.querySelector("[data-count]");
    if (!shown || !textarea.dataset.maxLength) return;
    var max = parseInt(textarea.dataset.maxLength, 10);
    var length = Array.from(textarea.value.trim()).length;
    shown.hidden = length < max * 0.9;
    shown.classList.toggle("over", length > max);
    shown.textContent = length.toLocaleString("en") + " of " + max.toLocaleString("en") + " characters" +
      (length > max ? ": " + (length - max).toLocaleString("en") + " too many to send" : "");
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (!target.matches) return;
    if (target.matches("textarea[data-autogrow]")) grow(target);
    if (target.matches("textarea[data-max-length]")) count(target);
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

  // --- The image upload ---

  function part(form, name) { return form.querySelector("[data-attachment" + name + "]"); }

  function composerError(form, text) {
    var error = form.querySelector(".error");
    if (error) error.textContent = text;
  }

  function attachmentClear(form, keepInput) {
    var box = part(form, ""), preview = part(form, "-preview");
    if (!box) return;
    if (form.upload) { form.upload.abort(); form.upload = null; }
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.removeAttribute("src");
    part(form, "-url").value = "";
    if (!keepInput) form.querySelector("input[data-upload]").value = "";
    box.hidden = true;
    delete form.dataset.uploading;
  }

  function attachmentState(form, text, percent) {
    part(form, "-state").textContent = text;
    var progress = part(form, "-progress");
    progress.hidden = percent === null;
    if (percent !== null) progress.value = percent;
  }

  function presign(input, file) {
    var form = input.form;
    return fetch(input.dataset.presignUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
      body: JSON.stringify({ file_name: file.name, content_type: file.type, size: file.size })
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) throw new Error(body.detail || "The upload could not start. Try again.");
        return body;
      });
    });
  }

  function put(form, url, file) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      form.upload = xhr;
      xhr.open("PUT", url);
      xhr.setRequestHeader("Content-Type", file.type);
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable) attachmentState(form, "Uploading…", Math.round(100 * event.loaded / event.total));
      };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) return resolve();
        var detail = "";
        try { detail = JSON.parse(xhr.responseText).detail || ""; } catch (e) { detail = ""; }
        reject(new Error(detail || "The upload was refused (" + xhr.status + "). Try another image."));
      };
      xhr.onerror = function () { reject(new Error("The upload was cut off. Check your connection and try again.")); };
      xhr.onabort = function () { reject(null); };
      xhr.send(file);
    });
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-upload]")) return;
    var form = input.form, file = input.files && input.files[0];
    if (!file) return;
    var maxBytes = parseInt(input.dataset.maxBytes, 10);
    // The types the server accepts are the input's own `accept` list.
    if (input.accept.split(",").indexOf(file.type) < 0) {
      attachmentClear(form);
      return composerError(form, "Attach a JPEG, PNG, WebP or GIF image.");
    }
    if (file.size > maxBytes) {
      attachmentClear(form);
      return composerError(form, "That image is larger than " + Math.floor(maxBytes / 1048576) + " MB. Pick a smaller one.");
    }
    attachmentClear(form, true);
    composerError(form, "");
    part(form, "-preview").src = URL.createObjectURL(file);
    part(form, "-name").textContent = file.name;
    part(form, "").hidden = false;
    form.dataset.uploading = "1";
    attachmentState(form, "Uploading…", 0);
    presign(input, file)
      .then(function (ticket) {
        return put(form, ticket.upload_url, file).then(function () { return ticket; });
      })
      .then(function (ticket) {
        part(form, "-url").value = ticket.download_url;
        delete form.dataset.uploading;
        form.upload = null;
        attachmentState(form, "Ready to send", null);
      })
      .catch(function (error) {
        if (error === null) return;  // removed while uploading
        attachmentClear(form);
        composerError(form, error.message);
      });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-attachment-remove]");
    if (!button) return;
    var form = button.form;
    attachmentClear(form);
    var file = form.querySelector("input[data-upload]");
    if (file) file.focus();
  });

  // Nothing is sent while the image is still on its way.
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    if (form.dataset && form.dataset.uploading) {
      event.preventDefault();
      composerError(form, "Wait a moment: the image is still uploading.");
    }
  });

  // --- The preferred mode and model stay in step: a model implies its mode. ---

  document.addEventListener("change", function (event) {
    var select = event.target, form = select.form;
    if (!form || !select.matches) return;
    var mode = form.querySelector("select[data-mode]"), model = form.querySelector("select[data-model]");
    if (select === model && model.value) {
      mode.value = model.selectedOptions[0].dataset.kind;
    } else if (select === mode && model.value && model.selectedOptions[0].dataset.kind !== mode.value && mode.value) {
      model.value = "";
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt, status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (!form.matches || !form.matches("form[data-reset-on-success]")) return;
    var textarea = form.querySelector("textarea");
    // A refusal (422, its reason swapped in beside the composer) counts as "successful" to htmx: only
    // a 2xx is sent. Otherwise everything stays as it was, for the person to change and send again.
    if (status < 200 || status > 299) {
      if (textarea) textarea.focus();
      return;
    }
    // The text and the image go; the preferred mode and model stay for the next message.
    var kept = Array.prototype.map.call(form.querySelectorAll("select"), function (s) { return s.value; });
    attachmentClear(form);
    form.reset();
    Array.prototype.forEach.call(form.querySelectorAll("select"), function (s, i) { s.value = kept[i]; });
    if (textarea) { grow(textarea); count(textarea); textarea.focus(); }
    composerError(form, "");
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

  // Notices after a redirect ("Welcome…", "…was deleted") float above the page, in view however far it
  // scrolls; they go when dismissed, or after a while unless the person is on them.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-dismiss]");
    if (button) button.closest("[data-dismissable]").hidden = true;
  });
  window.setTimeout(function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-dismissable]"), function (notice) {
      if (!notice.matches(":hover, :focus-within")) notice.hidden = true;
    });
  }, 12000);

  document.addEventListener("DOMContentLoaded", function () {
    var sidebar = document.querySelector("[data-sidebar]");
    if (sidebar && window.matchMedia("(max-width: 760px)").matches) sidebar.open = false;
    if (document.getElementById("messages") && !window.location.hash) window.scrollTo(0, document.body.scrollHeight);
  });
  // === Option cards ===
  // (end of Option cards)

  // === Gallery ===
  // (end of Gallery)

  // === Conversation controls ===
  // (end of Conversation controls)

  // === Phone drawer and theme ===
  // (end of Phone drawer and theme)

  // === Taste ===
  // (end of Taste)
})();
