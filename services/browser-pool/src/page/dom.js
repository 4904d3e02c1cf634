// Drover's in-page helpers, sent with every call (see js.rs): nothing stays in the page.
// Errors thrown here become the step's failure message, so they name the selector.
({
  query(selector, all) {
    try {
      return all ? Array.from(document.querySelectorAll(selector)) : document.querySelector(selector);
    } catch (e) {
      throw new Error(`invalid selector ${JSON.stringify(selector)}: ${e.message}`);
    }
  },
  first(selector) {
    const el = this.query(selector, false);
    if (!el) throw new Error(`selector ${JSON.stringify(selector)} matched no element`);
    return el;
  },
  visible(el) {
    if (!el || !el.isConnected) return false;
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    return style.visibility !== 'hidden' && rect.width > 0 && rect.height > 0;
  },
  reached(selector, state) {
    const el = this.query(selector, false);
    switch (state) {
      case 'attached': return el !== null;
      case 'visible': return this.visible(el);
      case 'hidden': return !this.visible(el);
      case 'detached': return el === null;
    }
    throw new Error(`unknown element state ${state}`);
  },
  // Resolves true once the state is reached, false after timeoutMs. A MutationObserver
  // catches DOM changes at once; a slow poll catches what it cannot see (CSS, layout).
  waitFor(selector, state, timeoutMs) {
    if (this.reached(selector, state)) return true;
    return new Promise((resolve) => {
      const done = (result) => {
        observer.disconnect();
        clearInterval(poll);
        clearTimeout(timer);
        resolve(result);
      };
      const check = () => { if (this.reached(selector, state)) done(true); };
      const observer = new MutationObserver(check);
      observer.observe(document, { childList: true, subtree: true, attributes: true, characterData: true });
      const poll = setInterval(check, 100);
      const timer = setTimeout(() => done(false), timeoutMs);
    });
  },
  // Resolves true once the document reached the ready state, false after timeoutMs.
  waitReady(state, timeoutMs) {
    const ok = () => state === 'interactive' ? document.readyState !== 'loading' : document.readyState === 'complete';
    if (ok()) return true;
    return new Promise((resolve) => {
      const check = () => { if (ok()) { clearTimeout(timer); document.removeEventListener('readystatechange', check); resolve(true); } };
      const timer = setTimeout(() => { document.removeEventListener('readystatechange', check); resolve(false); }, timeoutMs);
      document.addEventListener('readystatechange', check);
    });
  },
  // The viewport point to click: the element scrolled into view, the centre of its first
  // box with an area.
  clickPoint(selector) {
    const el = this.first(selector);
    el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
    for (const r of el.getClientRects()) {
      if (r.width > 1 && r.height > 1) return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    }
    throw new Error(`element matched by ${JSON.stringify(selector)} has no visible box to click`);
  },
  // Focuses the element for typing, optionally clearing it, with the caret at the end.
  focus(selector, clear) {
    const el = this.first(selector);
    el.focus();
    if (document.activeElement !== el) throw new Error(`element matched by ${JSON.stringify(selector)} cannot take focus`);
    if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) {
      if (clear) {
        el.value = '';
        el.dispatchEvent(new Event('input', { bubbles: true }));
      }
      try { el.setSelectionRange(el.value.length, el.value.length); } catch (_) { /* types without a caret */ }
    } else if (el.isContentEditable) {
      const range = document.createRange();
      range.selectNodeContents(el);
      if (clear) range.deleteContents();
      range.collapse(false);
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    return true;
  },
  extract(selector, target, attribute, all) {
    const read = (el) => {
      switch (target) {
        case 'text': return el.textContent ?? '';
        case 'inner_html': return el.innerHTML;
        case 'outer_html': return el.outerHTML;
        case 'attribute': return el.getAttribute(attribute) ?? '';
      }
      throw new Error(`unknown extract target ${target}`);
    };
    return all ? this.query(selector, true).map(read) : [read(this.first(selector))];
  },
  // The element's box in page (document) coordinates, for a clipped screenshot.
  pageBox(selector) {
    const el = this.first(selector);
    el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) throw new Error(`element matched by ${JSON.stringify(selector)} has no size to capture`);
    return { x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height };
  },
})
