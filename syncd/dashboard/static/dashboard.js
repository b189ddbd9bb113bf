// syncd dashboard: local times, and live sections that refresh themselves.
// Plain script, no build step and no other origin (the page's CSP allows only this file).
"use strict";

const LIVE_POLL_MS = 1500;

function localizeTimes(root) {
  for (const el of root.querySelectorAll("time[data-local]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) {
      el.textContent = when.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
      });
    }
  }
}

// A section may carry the page's state (an integration syncing, failing ...):
// the badge in the page's heading follows it.
function followState(section) {
  const state = section.dataset.state;
  const holder = document.getElementById("state-badge");
  if (!state || !holder) return;
  const badge = holder.querySelector(".badge");
  if (!badge || badge.classList.contains(`state-${state}`)) return;
  badge.className = `badge state-${state}`;
  badge.textContent = state.charAt(0).toUpperCase() + state.slice(1);
}

function schedule(section) {
  const live = section.dataset.live === "true";
  const idle = Number(section.dataset.idlePoll || 0);
  const wait = live ? LIVE_POLL_MS : idle;
  if (!wait) return;
  window.setTimeout(() => refresh(section), wait);
}

async function refresh(section) {
  if (!section.isConnected) return;
  try {
    const answer = await fetch(section.dataset.src, {
      credentials: "same-origin",
      headers: { "Accept": "text/html" },
    });
    if (answer.status === 401) {
      window.location.reload();  // the session ended: the server sends us to sign in
      return;
    }
    if (answer.ok) {
      const holder = document.createElement("div");
      holder.innerHTML = await answer.text();
      const fresh = holder.firstElementChild;
      if (fresh && fresh.id === section.id) {
        const ended = section.dataset.live === "true" && fresh.dataset.live !== "true";
        // Keep keyboard focus where it was if it sat inside the section.
        const focusedId = section.contains(document.activeElement) ? document.activeElement.id : null;
        section.replaceWith(fresh);
        localizeTimes(fresh);
        followState(fresh);
        if (focusedId) document.getElementById(focusedId)?.focus();
        schedule(fresh);
        // A sync or check just ended: what it changed elsewhere on the page
        // (held sweeps, new properties) is fetched once.
        if (ended) {
          for (const follower of document.querySelectorAll(`[data-follows="${fresh.id}"]`)) {
            refresh(follower);
          }
        }
        return;
      }
    }
  } catch (err) {
    // The server restarting or the network dropping: try again later.
  }
  window.setTimeout(() => refresh(section), Math.max(LIVE_POLL_MS * 4, Number(section.dataset.idlePoll || 0)));
}

function closeMenusOnEscape(event) {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    menu.removeAttribute("open");
    menu.querySelector("summary")?.focus();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  localizeTimes(document);
  for (const section of document.querySelectorAll("[data-src]")) schedule(section);
  document.addEventListener("keydown", closeMenusOnEscape);
});
