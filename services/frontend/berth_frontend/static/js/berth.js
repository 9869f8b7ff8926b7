// Berth: the few client-only actions, delegated from the document (everything else is htmx
// attributes). No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";

  var body = document.body;

  function toast(message, kind) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var item = document.createElement("div");
    item.className = "toast" + (kind ? " toast-" + kind : "");
    item.setAttribute("role", kind === "error" ? "alert" : "status");
    item.textContent = message;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 5000);
  }

  // --- burger: the sidebar slides in on narrow screens
  function setNav(open) {
    document.body.classList.toggle("nav-open", open);
    document.querySelectorAll("[data-toggle-nav]").forEach(function (b) {
      b.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // --- confirm dialogs: <dialog> instead of window.confirm
  var pendingConfirm = null;
  function askConfirm(message, onConfirm) {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      if (window.confirm(message)) onConfirm();
      return;
    }
    document.getElementById("confirm-text").textContent = message;
    pendingConfirm = onConfirm;
    dialog.returnValue = "";
    dialog.showModal();
  }
  document.addEventListener("close", function (event) {
    if (event.target.id !== "confirm-dialog") return;
    var run = pendingConfirm;
    pendingConfirm = null;
    if (run && event.target.returnValue === "ok") run();
  }, true);

  document.addEventListener("htmx:confirm", function (event) {
    var source = event.detail.elt && event.detail.elt.closest("[data-confirm]");
    if (!source) return;
    event.preventDefault();
    askConfirm(source.getAttribute("data-confirm"), function () {
      event.detail.issueRequest(true);
    });
  });

  // plain (non-htmx) forms that ask first
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-confirm]:not([hx-post])") || form.dataset.confirmed) return;
    event.preventDefault();
    askConfirm(form.getAttribute("data-confirm"), function () {
      form.dataset.confirmed = "1";
      form.requestSubmit();
    });
  });

  // --- copy to clipboard: data-copy="#element-whose-text-to-copy"
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "sr-only";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-toggle-nav]");
    if (toggle) {
      setNav(!document.body.classList.contains("nav-open"));
      return;
    }
    if (event.target.closest("[data-close-nav]")) {
      setNav(false);
      return;
    }
    if (event.target.closest(".menu a")) {
      setNav(false);
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (!source) return;
      copyText(source.textContent.trim()).then(
        function () { copy.dataset.copied = "1"; toast("Copied to the clipboard."); },
        function () { toast("Could not copy; select the text and copy it by hand.", "error"); }
      );
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") setNav(false);
  });

  // --- htmx: errors as toasts, navigation scrolls to the top
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var message = xhr.getResponseHeader("X-Berth-Error");
    toast(message ? decodeURIComponent(message) : "The request failed (" + xhr.status + ").", "error");
  });
  document.addEventListener("htmx:sendError", function () {
    toast("Berth could not be reached. Check your connection and try again.", "error");
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "main") {
      setNav(false);
      window.scrollTo(0, 0);
    }
  });

  // --- charts: <canvas data-chart='{"type": ..., "data": ...}'>, drawn when they appear
  function drawCharts(root) {
    if (!window.Chart || !root.querySelectorAll) return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      canvas.dataset.drawn = "1";
      var config = JSON.parse(canvas.getAttribute("data-chart"));
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
      new window.Chart(canvas, config);
    });
  }
  document.addEventListener("htmx:load", function (event) { drawCharts(event.detail.elt); });
  window.addEventListener("load", function () { drawCharts(document); });

  body.dataset.berthReady = "1";
})();
