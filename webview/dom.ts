// A tiny element builder for the views (no framework): h('div', { class: 'x', onclick: f }, ...children).
// Keys starting with "on" add listeners, "." sets a property, others set attributes (false/undefined: absent).

type Child = Node | string | number | null | undefined | false | Child[];
type Props = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): HTMLElementTagNameMap[K];
export function h(tag: string, props?: Props | null, ...children: Child[]): HTMLElement;
export function h(tag: string, props?: Props | null, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k.startsWith('.')) (el as unknown as Record<string, unknown>)[k.slice(1)] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces an element's children. */
export function setChildren(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** Sets textContent only when it changes (no layout work for the many unchanged updates). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** Enter or Space on a non-button element acts like a click (rows, custom controls). */
export function onActivate(el: HTMLElement, f: (ev: Event) => void): void {
  el.addEventListener('click', f);
  el.addEventListener('keydown', (ev) => {
    if (ev.target !== el) return;
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      f(ev);
    }
  });
}

/** Toggles an attribute (present/absent). */
export function toggleAttr(el: Element, name: string, on: boolean): void {
  if (on) {
    if (!el.hasAttribute(name)) el.setAttribute(name, '');
  } else if (el.hasAttribute(name)) el.removeAttribute(name);
}
