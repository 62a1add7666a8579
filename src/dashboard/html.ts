/**
 * HTML written on the server, escaped by construction: the `html` tag escapes every value put
 * into a template unless it is itself `html` (a SafeHtml), so a target name, an error message or
 * a breaker reason read from Redis can never become markup. Attributes are always written in
 * double quotes, which the escaping covers.
 */

/** A piece of HTML that is safe to put into a page as is. */
export class SafeHtml {
  constructor(readonly html: string) {}
  toString(): string {
    return this.html;
  }
}

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text as HTML text or a quoted attribute value: `& < > " '` become entities. Pure. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] as string);
}

/** What a template takes: text and numbers (escaped), SafeHtml, lists of them, or nothing. */
export type HtmlValue = string | number | boolean | SafeHtml | null | undefined | readonly HtmlValue[];

/** A value as HTML: SafeHtml as is, arrays joined, null, undefined and false as nothing, the rest escaped text. */
function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.html;
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** Template tag: the template's own text as is, every value escaped (see `render`). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}
