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

  // A running job's clock counts on in the page: its polls answer "no change" (204) until something changes.
  window.setInterval(function () {
    var now = Date.now() / 1000;
    Array.prototype.forEach.call(document.querySelectorAll("[data-poll] [data-since]"), function (clock) {
      var seconds = Math.max(0, Math.floor(now - parseInt(clock.dataset.since, 10)));
      clock.textContent = seconds >= 60
        ? Math.floor(seconds / 60) + " min " + String(seconds % 60).padStart(2, "0") + " s"
        : seconds + " s";
    });
  }, 1000);

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
      // Smoothly, unless the person asked their system for less motion.
      var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      if (last) last.scrollIntoView({ block: "start", behavior: still ? "auto" : "smooth" });
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
    if (document.getElementById("messages") && !window.location.hash) window.scrollTo(0, document.body.scrollHeight);
  });
  // === Option cards ===
  // A preview that cannot load gives way to the card's placeholder (the style's, motion's or model's name).
  function previewFailed(img) {
    img.hidden = true;
    if (img.nextElementSibling) img.nextElementSibling.hidden = false;
  }
  document.addEventListener("error", function (event) {
    if (event.target.matches && event.target.matches("img[data-preview]")) previewFailed(event.target);
  }, true);

  document.addEventListener("htmx:load", function (event) {
    Array.prototype.forEach.call(event.detail.elt.querySelectorAll("img[data-preview]"), function (img) {
      if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) previewFailed(img);
    });
  });
  // The prompt's first lines, shown while it is closed, follow the person's edit.
  document.addEventListener("input", function (event) {
    var details = event.target.closest && event.target.closest("details.prompt");
    var start = details && details.querySelector("[data-prompt-start]");
    if (start) start.textContent = event.target.value;
  });

  // A charge or a refund swaps in the sidebar's balance: buttons with a price follow it.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var credits = document.getElementById("credits");
    if (!event.detail.target || event.detail.target.id !== "credits" || !credits) return;
    var balance = parseInt(credits.textContent, 10);
    if (isNaN(balance)) return;
    Array.prototype.forEach.call(document.querySelectorAll("button[data-price]"), function (button) {
      var price = parseInt(button.dataset.price, 10), reason = button.nextElementSibling;
      var short = price > balance;
      if (reason && reason.hasAttribute("data-refusal")) {
        reason.textContent = short ? "Needs " + price + " credit" + (price === 1 ? "" : "s") + "; you have " + balance + "." : "";
        if (short) button.setAttribute("aria-describedby", reason.id); else button.removeAttribute("aria-describedby");
      }
      // A button htmx holds off during its own request stays off once that request ends, when it is too dear.
      if (short) { button.disabled = true; button.removeAttribute("data-disabled-by-htmx"); }
      else if (!button.hasAttribute("data-disabled-by-htmx")) button.disabled = false;
    });
  });
  // (end of Option cards)

  // === Gallery ===
  // A thumbnail opens its file large in the viewer (a modal dialog); Left and Right step through the
  // items (past the last one loaded, the next page comes first), Escape closes, and focus goes back to
  // the thumbnail last shown.
  var shown = null;
  function galleryItems() { return Array.prototype.slice.call(document.querySelectorAll("[data-gallery-open]")); }
  function galleryShow(viewer, link) {
    var media = document.createElement(link.dataset.kind === "video" ? "video" : "img"), figure = link.closest(".gallery-item");
    var items = galleryItems(), at = items.indexOf(link), prompt = figure.querySelector(".gallery-prompt");
    if (link.dataset.kind === "video") { media.controls = media.autoplay = media.loop = media.playsInline = true; }
    else media.alt = prompt.title;
    media.src = link.href;
    shown = link;
    viewer.querySelector("[data-viewer-media]").replaceChildren(media);
    viewer.querySelector(".viewer-title").textContent = prompt.title;
    viewer.querySelector("[data-viewer-caption]").replaceChildren(figure.querySelector(".gallery-meta").cloneNode(true));
    viewer.querySelector("[data-viewer-step='-1']").disabled = at <= 0;
    viewer.querySelector("[data-viewer-step='1']").disabled = at >= items.length - 1 && !document.querySelector("#gallery .more");
  }
  function galleryStep(viewer, by) {
    var items = galleryItems(), next = items[items.indexOf(shown) + by], more = document.querySelector("#gallery .more");
    if (!next && by > 0 && more && window.htmx) {  // past the last item loaded: load the next page, then go on
      if (more.classList.contains("htmx-request")) return;
      document.addEventListener("htmx:afterSettle", function () { galleryStep(viewer, by); }, { once: true });
      window.htmx.trigger(more, "click");
      return;
    }
    if (next) galleryShow(viewer, next);
    if (document.activeElement && document.activeElement.disabled) viewer.querySelector("[data-viewer-close]").focus();
  }
  document.addEventListener("click", function (event) {
    var viewer = document.getElementById("gallery-viewer"), target = event.target.closest ? event.target : null;
    if (!viewer || !target) return;
    var link = target.closest("[data-gallery-open]"), step = target.closest("[data-viewer-step]");
    if (link && !(event.ctrlKey || event.metaKey || event.shiftKey || event.button)) {
      event.preventDefault();
      galleryShow(viewer, link);
      viewer.showModal();
      viewer.querySelector("[data-viewer-close]").focus();
    } else if (step) {
      galleryStep(viewer, Number(step.dataset.viewerStep));
    } else if (target === viewer || target.closest("[data-viewer-close]")) {
      viewer.close();
    }
  });
  document.addEventListener("keydown", function (event) {
    var viewer = document.getElementById("gallery-viewer");
    if (!viewer || !viewer.open || event.target.tagName === "VIDEO") return;  // a video's own arrows seek
    if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      event.preventDefault();
      galleryStep(viewer, event.key === "ArrowLeft" ? -1 : 1);
    }
  });
  document.addEventListener("close", function (event) {
    if (event.target.id !== "gallery-viewer") return;
    event.target.querySelector("[data-viewer-media]").replaceChildren();  // stops a playing video
    if (shown) shown.focus();
  }, true);
  // (end of Gallery)

  // === Conversation controls ===
  // Stop a reply (its button, or Esc), edit the last message in place (Cancel puts its words back), and the
  // keyboard shortcuts of the help dialog ("?"), which wait while the person types in a field, but for Esc.
  function typing(target) {
    return !!(target && target.closest && target.closest("input, textarea, select, [contenteditable]"));
  }

  function composerFocus() {
    var text = document.getElementById("composer-text");
    if (text) text.focus();
    return !!text;
  }

  function editCancel(details) {
    var text = details.querySelector("textarea");
    text.value = text.defaultValue;
    details.querySelector(".error").textContent = "";
    details.open = false;
    details.querySelector("summary").focus();
  }

  document.addEventListener("click", function (event) {
    if (!event.target.closest) return;
    var cancel = event.target.closest("[data-edit-cancel]");
    if (cancel) editCancel(cancel.closest("details"));
    if (event.target.closest("[data-shortcuts-open]")) document.getElementById("shortcuts").showModal();
  });

  // The edit opens with the caret after the words.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.matches || !details.matches("details.edit") || !details.open) return;
    var text = details.querySelector("textarea");
    grow(text);
    text.focus();
    text.setSelectionRange(text.value.length, text.value.length);
  }, true);

  // Stopping: the person can write again at once (the Stop button itself goes with the reply's swap).
  document.addEventListener("submit", function (event) {
    if (event.target.matches && event.target.matches("form[data-stop]")) composerFocus();
  });

  document.addEventListener("keydown", function (event) {
    var dialog = document.getElementById("shortcuts"), key = event.key;
    if (event.defaultPrevented || event.isComposing || !dialog || dialog.open) return;
    if (key === "Escape" && !event.shiftKey) {
      var stops = document.querySelectorAll("form[data-stop]"), edit = event.target.closest && event.target.closest("details.edit");
      if (stops.length) {
        event.preventDefault();
        stops[stops.length - 1].requestSubmit();
      } else if (edit) {
        editCancel(edit);
      }
      return;
    }
    if (typing(event.target) || event.altKey) return;
    if ((event.ctrlKey || event.metaKey) && event.shiftKey && key.toLowerCase() === "o") {
      event.preventDefault();
      window.location.href = dialog.dataset.newChat;
    } else if (event.ctrlKey || event.metaKey) {
      return;
    } else if ((key === "/" || (key === "Escape" && event.shiftKey)) && composerFocus()) {
      event.preventDefault();
    } else if (key === "?") {
      event.preventDefault();
      dialog.showModal();
    }
  });
  // (end of Conversation controls)

  // === Phone drawer and theme ===
  // At phone width the chat list is a drawer over the page. The menu button opens it and focus moves in
  // (and stays in while it is open); Escape, the backdrop, the close button or a chosen chat close it,
  // and focus goes back to the button.
  function drawerOpen() {
    var sidebar = document.getElementById("sidebar");
    return !!sidebar && sidebar.classList.contains("open");
  }

  function drawerSet(open, returnFocus) {
    var sidebar = document.getElementById("sidebar"), button = document.querySelector("[data-drawer-open]");
    if (!sidebar || !button) return;
    sidebar.classList.toggle("open", open);
    document.querySelector(".drawer-backdrop").hidden = !open;
    // What lies behind the open drawer is out of reach, for a screen reader too.
    document.getElementById("main").inert = open;
    button.setAttribute("aria-expanded", String(open));
    if (open) (sidebar.querySelector("[aria-current=page]") || drawerStops(sidebar)[0]).focus();
    else if (returnFocus) button.focus();
  }

  function drawerStops(sidebar) {
    return Array.prototype.filter.call(sidebar.querySelectorAll("a[href], button, input, select, textarea"), function (el) {
      return !el.disabled && el.offsetParent !== null;
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target.closest) return;
    if (target.closest("[data-drawer-open]")) drawerSet(!drawerOpen(), true);
    else if (drawerOpen() && target.closest("[data-drawer-close]")) drawerSet(false, true);
    else if (drawerOpen() && target.closest("#sidebar a[href]")) drawerSet(false, false);
  });

  document.addEventListener("keydown", function (event) {
    if (!drawerOpen()) return;
    if (event.key === "Escape") return drawerSet(false, true);
    if (event.key !== "Tab") return;
    var stops = drawerStops(document.getElementById("sidebar")), first = stops[0], last = stops[stops.length - 1];
    if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
  });

  // Back at desktop width the sidebar is in the page again, not a drawer.
  window.matchMedia("(max-width: 760px)").addEventListener("change", function (event) {
    if (!event.matches && drawerOpen()) drawerSet(false, false);
  });
  // (end of Phone drawer and theme)

  // === Taste ===
  // (end of Taste)
})();
