// Roster console behaviour: copy buttons, the Secret Key eye toggle and inline
// edit, dialogs. Loaded as a file: the CSP allows no inline script.
(() => {
  "use strict";

  const csrf = () => {
    const field = document.querySelector('input[name="csrf"]');
    return field ? field.value : "";
  };

  const toast = (message) => {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
    clearTimeout(box.hideTimer);
    box.hideTimer = setTimeout(() => { box.hidden = true; }, 2500);
  };

  const copyText = async (text) => {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    toast("Copied to Clipboard");
  };

  const reveal = async (url) => {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf() },
    });
    if (!response.ok) throw new Error("reveal failed: " + response.status);
    return response.json();
  };

  const showSecret = async (input, url) => {
    if (input.dataset.masked === "true") {
      const data = await reveal(url);
      input.value = data.secret;
      input.dataset.masked = "false";
    }
    input.type = "text";
  };

  const startEdit = async (button) => {
    const form = button.closest("form");
    const input = form.querySelector("#" + button.dataset.edit);
    const eye = form.querySelector("[data-reveal]");
    if (eye) await showSecret(input, eye.dataset.reveal);
    input.dataset.original = input.value;
    input.readOnly = false;
    input.type = "text";
    form.dataset.editing = "true";
    form.querySelector(".edit-actions").hidden = false;
    form.querySelector("[data-save]").disabled = true;
    input.focus();
  };

  const cancelEdit = (button) => {
    const form = button.closest("form");
    const input = form.querySelector("#secret");
    if (input.dataset.original === undefined) {
      // Rendered in edit state after a failed save: reload the saved state.
      window.location.assign(window.location.pathname);
      return;
    }
    input.value = input.dataset.original;
    input.readOnly = true;
    input.type = "password";
    delete form.dataset.editing;
    form.querySelector(".edit-actions").hidden = true;
    form.querySelector("[data-save]").disabled = true;
  };

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const d = button.dataset;
    try {
      if (d.copy !== undefined) {
        await copyText(d.copy);
      } else if (d.reveal) {
        const input = document.getElementById(d.target);
        if (input.type === "password") {
          await showSecret(input, d.reveal);
          button.setAttribute("aria-pressed", "true");
        } else {
          input.type = "password";
          button.setAttribute("aria-pressed", "false");
        }
      } else if (d.toggle) {
        // A secret already on the page (shown once): mask or unmask it.
        const input = document.getElementById(d.toggle);
        const show = input.type === "password";
        input.type = show ? "text" : "password";
        button.setAttribute("aria-pressed", show ? "true" : "false");
      } else if (d.edit) {
        await startEdit(button);
      } else if (d.cancel !== undefined) {
        cancelEdit(button);
      } else if (d.connectivity) {
        const data = await reveal(d.connectivity);
        await copyText(
          "SCIM API Endpoint: " + d.endpoint + "\n" +
          "Client ID: " + d.clientId + "\n" +
          "Secret Key: " + data.secret + "\n"
        );
      } else if (d.openDialog) {
        const dialog = document.getElementById(d.openDialog);
        if (dialog && !dialog.open) dialog.showModal();
      } else if (d.closeDialog !== undefined) {
        const dialog = button.closest("dialog");
        if (dialog) dialog.close();
      }
    } catch (err) {
      toast("That did not work; reload the page and try again.");
    }
  });

  // The SSO form shows the fields of the chosen Auth Type only.
  const showProtocol = (select) => {
    const form = select.closest("form");
    for (const group of form.querySelectorAll("fieldset[data-protocol]")) {
      group.hidden = group.dataset.protocol !== select.value;
    }
  };
  for (const select of document.querySelectorAll("select[data-auth-type]")) {
    showProtocol(select);
  }
  document.addEventListener("change", (event) => {
    if (event.target.matches("select[data-auth-type]")) showProtocol(event.target);
  });

  document.addEventListener("input", (event) => {
    const form = event.target.closest("form.secret-form");
    if (!form || event.target.id !== "secret") return;
    const save = form.querySelector("[data-save]");
    const original = event.target.dataset.original;
    save.disabled = original !== undefined && event.target.value === original;
  });
})();
