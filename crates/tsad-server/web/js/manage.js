// Rename and delete for the sidebar's datasets and runs: a pencil that turns the title into a
// text field (Enter saves, Escape cancels) and a cross that asks once more ("Delete?") before it
// deletes. No browser dialogs, so they work the same everywhere.

import { el } from "./util.js";

/**
 * The actions of one sidebar item. `title` is the item's title element (replaced by a field while
 * renaming); `rename(name)` and `remove()` return promises; `what` is "dataset" or "run".
 */
export function itemActions({ what, name, title, rename, remove, onError }) {
  const renameButton = el("button", {
    type: "button", class: "icon-button", title: `Rename this ${what}`, "aria-label": `Rename ${name}`,
    "data-testid": `${what}-rename`,
    onclick: (ev) => {
      ev.stopPropagation();
      const field = el("input", { type: "text", value: name, "aria-label": `New name of ${name}`, "data-testid": `${what}-name-input` });
      let done = false;
      const finish = async (save) => {
        if (done) return;
        done = true;
        const next = field.value.trim();
        field.replaceWith(title);
        if (!save || next === name) return;
        try {
          await rename(next);
        } catch (err) {
          onError(err, `Could not rename the ${what}`);
        }
      };
      field.addEventListener("click", (e) => e.stopPropagation());
      field.addEventListener("keydown", (e) => {
        e.stopPropagation();
        if (e.key === "Enter") finish(true);
        else if (e.key === "Escape") finish(false);
      });
      field.addEventListener("blur", () => finish(true));
      title.replaceWith(field);
      field.focus();
      field.select();
    },
  }, "✎");
  const deleteButton = el("button", {
    type: "button", class: "icon-button danger", title: `Delete this ${what}`, "aria-label": `Delete ${name}`,
    "data-testid": `${what}-delete`,
    onclick: async (ev) => {
      ev.stopPropagation();
      if (deleteButton.dataset.armed !== "true") {
        deleteButton.dataset.armed = "true";
        deleteButton.textContent = "Delete?";
        deleteButton.title = what === "dataset" ? "Click again to delete the dataset and its runs" : "Click again to delete the run";
        setTimeout(() => {
          delete deleteButton.dataset.armed;
          deleteButton.textContent = "×";
        }, 4000);
        return;
      }
      try {
        await remove();
      } catch (err) {
        onError(err, `Could not delete the ${what}`);
      }
    },
  }, "×");
  return el("span", { class: "item-actions" }, renameButton, deleteButton);
}
